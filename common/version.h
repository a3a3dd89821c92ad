/* The build's identity: the CMake project version and the git commit the
 * binaries were built from (cmake/version.cmake), for --version, the
 * build_info metrics and the heartbeat hashes. */
#ifndef PF_VERSION_H
#define PF_VERSION_H

/* "0.1.0": the project version of CMakeLists.txt. */
const char *version_string(void);

/* "3f2a9c1d0b7e", "3f2a9c1d0b7e-dirty", or "" when the build did not know
 * its commit. */
const char *version_commit(void);

/* Writes "<program> <version> (commit <commit>)" -- or without the
 * parenthesis when the commit is unknown -- into <buf> of <len>. */
void version_format(const char *program, char *buf, unsigned long len);

#endif
