# Every busted spec file is one ctest test per Lua: the main LIVEPULL_LUA
# always (tests named <spec>), the LuaJIT twin when built (<spec>_luajit);
# each LIVEPULL_EXTRA_LUAS twin (<spec>_lua5.1 ...) runs the portable specs
# (not the slow soak and fault ones). Busted on Debian is one tree of
# Lua 5.1 sources that lua-busted links into /usr/share/lua/5.2-5.4, with
# lua-cjson and lua-system built per version, so it runs under every Lua.
# Each run's output is also kept in spec-output/ for the secrets check.
find_program(BUSTED busted REQUIRED)
find_program(PYTHON3 python3 REQUIRED)
file(GLOB LIVEPULL_SPECS RELATIVE ${CMAKE_SOURCE_DIR} ${CMAKE_SOURCE_DIR}/spec/*_spec.lua)
set(LIVEPULL_PORTABLE_SPECS apply_cli_spec cli_spec completion_spec docs_spec errors_spec family_spec hostile_spec
  integration_spec lifecycle_spec limits_spec manpage_spec many_hostile_spec many_spec packaging_spec plan_spec
  prepare_spec rate_store_config_spec release_spec signing_spec startup_spec validation_spec)

# name|core.so folder|suffix|which specs
set(LIVEPULL_FLAVORS "${LIVEPULL_LUA}|${CMAKE_BINARY_DIR}||all")
foreach(lua ${LIVEPULL_TWINS})
  if(lua STREQUAL "luajit")
    list(APPEND LIVEPULL_FLAVORS "luajit|${CMAKE_BINARY_DIR}/luajit|_luajit|all")
  else()
    list(APPEND LIVEPULL_FLAVORS "${lua}|${CMAKE_BINARY_DIR}/${lua}|_${lua}|portable")
  endif()
endforeach()

# No spec may reach a real instance metadata service: the default chain's
# ECS step is off, and pointed at a closed loopback port if a spec turns it on.
set(LIVEPULL_SPEC_ENV "ALIBABA_CLOUD_ECS_METADATA_DISABLED=true;LIVEPULL_METADATA_ENDPOINT=http://127.0.0.1:9")

set(LIVEPULL_ALL_TESTS emulator)
foreach(flavor ${LIVEPULL_FLAVORS})
  string(REPLACE "|" ";" parts "${flavor}")
  list(GET parts 0 interpreter)
  list(GET parts 1 cdir)
  list(GET parts 2 suffix)
  list(GET parts 3 which)
  foreach(spec ${LIVEPULL_SPECS})
    get_filename_component(name ${spec} NAME_WE)
    if(which STREQUAL "portable" AND NOT name IN_LIST LIVEPULL_PORTABLE_SPECS)
      continue()
    endif()
    set(test ${name}${suffix})
    add_test(NAME ${test}
      COMMAND bash -c "set -o pipefail; mkdir -p \"$(dirname \"\$0\")\"; \"\$@\" 2>&1 | tee \"\$0\""
              ${CMAKE_BINARY_DIR}/spec-output/${test}.log ${interpreter} ${BUSTED} --output=plainTerminal
              --lpath=${CMAKE_SOURCE_DIR}/lua/?.lua --lpath=${CMAKE_SOURCE_DIR}/lua/?/init.lua
              --lpath=${CMAKE_SOURCE_DIR}/spec/?.lua --cpath=${cdir}/?.so ${spec}
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(${test} PROPERTIES TIMEOUT 900 ENVIRONMENT
      "LIVEPULL_BUILD_DIR=${CMAKE_BINARY_DIR};LIVEPULL_LUA_BIN=${interpreter};LIVEPULL_CPATH=${cdir}/?.so;${LIVEPULL_SPEC_ENV}")
    if(name STREQUAL "packaging_spec")   # each flavor's luarocks make writes build.luarocks/ in the source tree
      set_tests_properties(${test} PROPERTIES RESOURCE_LOCK luarocks_build_dir)
    endif()
    list(APPEND LIVEPULL_ALL_TESTS ${test})
  endforeach()
endforeach()

# livepull.resty in a real nginx: each spec/nginx/*_spec.lua drives nginx
# (which runs the LuaJIT twin) from lua5.4; run once each.
if(LIVEPULL_WITH_LUAJIT)
  file(GLOB LIVEPULL_NGINX_SPECS RELATIVE ${CMAKE_SOURCE_DIR} ${CMAKE_SOURCE_DIR}/spec/nginx/*_spec.lua)
  foreach(spec ${LIVEPULL_NGINX_SPECS})
    get_filename_component(test ${spec} NAME_WE)
    add_test(NAME ${test}
      COMMAND bash -c "set -o pipefail; mkdir -p \"$(dirname \"\$0\")\"; \"\$@\" 2>&1 | tee \"\$0\""
              ${CMAKE_BINARY_DIR}/spec-output/${test}.log lua5.4 ${BUSTED} --output=plainTerminal
              --lpath=${CMAKE_SOURCE_DIR}/lua/?.lua --lpath=${CMAKE_SOURCE_DIR}/lua/?/init.lua
              --lpath=${CMAKE_SOURCE_DIR}/spec/?.lua --cpath=${CMAKE_BINARY_DIR}/?.so ${spec}
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
    set_tests_properties(${test} PROPERTIES TIMEOUT 900 ENVIRONMENT "LIVEPULL_BUILD_DIR=${CMAKE_BINARY_DIR};${LIVEPULL_SPEC_ENV}")
    if(test STREQUAL "nginx_redis_spec")   # its fleet counts a strict sliding second: no other spec's load beside it
      set_tests_properties(${test} PROPERTIES RUN_SERIAL TRUE)
    endif()
    list(APPEND LIVEPULL_ALL_TESTS ${test})
  endforeach()
endif()

add_test(NAME emulator COMMAND ${PYTHON3} ${CMAKE_SOURCE_DIR}/tests/emulator/test_emulator.py
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})

# The slow checks (tools/test turns them on; CI runs them): every spec under
# ASan+UBSan and valgrind, each libFuzzer target for 30 s, the benchmark in
# its short mode (it reports; timings never fail it).
option(LIVEPULL_SLOW_CHECKS "Register the sanitizer, fuzzing and benchmark runs with ctest" OFF)
if(LIVEPULL_SLOW_CHECKS)
  add_test(NAME sanitizers COMMAND bash tools/sanitize WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  add_test(NAME fuzz COMMAND bash fuzz/run 30 WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  add_test(NAME bench_short COMMAND bash bench/run --short --out ${CMAKE_BINARY_DIR}/bench-results.json
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(sanitizers fuzz bench_short PROPERTIES TIMEOUT 3600 LABELS slow)
endif()

# Last: nothing the suite printed or the emulators logged holds a test secret.
add_test(NAME no_secrets_in_output
  COMMAND lua5.4 spec/check_no_secrets.lua ${CMAKE_BINARY_DIR}
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(no_secrets_in_output PROPERTIES DEPENDS "${LIVEPULL_ALL_TESTS}")
