/* The release version, single-sourced from CMake's project(VERSION): the
 * build passes it as LIVEPULL_VERSION (livepull.version, the user agent). */
#ifndef LIVEPULL_VERSION_H
#define LIVEPULL_VERSION_H

#ifndef LIVEPULL_VERSION
#error "LIVEPULL_VERSION comes from CMakeLists.txt's project(VERSION); build with CMake"
#endif
#define LP_VERSION LIVEPULL_VERSION

#endif
