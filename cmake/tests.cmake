# Every busted spec file is one ctest test, run under the Lua this build is for.
set(LIVEPULL_LUA_BIN "lua5.4" CACHE STRING "Lua interpreter that runs the specs")
find_program(BUSTED busted REQUIRED)
file(GLOB LIVEPULL_SPECS RELATIVE ${CMAKE_SOURCE_DIR} ${CMAKE_SOURCE_DIR}/spec/*_spec.lua)
foreach(spec ${LIVEPULL_SPECS})
  get_filename_component(name ${spec} NAME_WE)
  # Output is also kept in spec-output/ for the secrets check at the end.
  add_test(NAME ${name}
    COMMAND bash -c "set -o pipefail; mkdir -p \"$(dirname \"\$0\")\"; \"\$@\" 2>&1 | tee \"\$0\""
            ${CMAKE_BINARY_DIR}/spec-output/${name}.log ${LIVEPULL_LUA_BIN} ${BUSTED} --output=plainTerminal --lpath=${CMAKE_SOURCE_DIR}/lua/?.lua
            --lpath=${CMAKE_SOURCE_DIR}/lua/?/init.lua --lpath=${CMAKE_SOURCE_DIR}/spec/?.lua
            --cpath=${CMAKE_BINARY_DIR}/?.so ${spec}
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "LIVEPULL_BUILD_DIR=${CMAKE_BINARY_DIR}" TIMEOUT 600)
endforeach()

find_program(PYTHON3 python3 REQUIRED)
add_test(NAME emulator COMMAND ${PYTHON3} ${CMAKE_SOURCE_DIR}/tests/emulator/test_emulator.py
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})

# Last: nothing the suite printed or the emulators logged holds a test secret.
add_test(NAME no_secrets_in_output
  COMMAND ${LIVEPULL_LUA_BIN} spec/check_no_secrets.lua ${CMAKE_BINARY_DIR}
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set(LIVEPULL_ALL_TESTS emulator)
foreach(spec ${LIVEPULL_SPECS})
  get_filename_component(name ${spec} NAME_WE)
  list(APPEND LIVEPULL_ALL_TESTS ${name})
endforeach()
set_tests_properties(no_secrets_in_output PROPERTIES DEPENDS "${LIVEPULL_ALL_TESTS}")
