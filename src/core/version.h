// Build facts, compiled into one generated file so that a new commit rebuilds only that file.
#pragma once

namespace sr {

const char* smoothread_version();  // "0.1.0"
const char* smoothread_git_sha();  // short sha of the checkout at configure time, or "unknown"
const char* smoothread_compiler();

}  // namespace sr
