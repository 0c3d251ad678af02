# Every busted spec file is one ctest test, run under the Lua this build is for.
set(LIVEPULL_LUA_BIN "lua5.4" CACHE STRING "Lua interpreter that runs the specs")
find_program(BUSTED busted REQUIRED)
file(GLOB LIVEPULL_SPECS RELATIVE ${CMAKE_SOURCE_DIR} ${CMAKE_SOURCE_DIR}/spec/*_spec.lua)
foreach(spec ${LIVEPULL_SPECS})
  get_filename_component(name ${spec} NAME_WE)
  add_test(NAME ${name}
    COMMAND ${LIVEPULL_LUA_BIN} ${BUSTED} --output=plainTerminal --lpath=${CMAKE_SOURCE_DIR}/lua/?.lua
            --lpath=${CMAKE_SOURCE_DIR}/lua/?/init.lua --lpath=${CMAKE_SOURCE_DIR}/spec/?.lua
            --cpath=${CMAKE_BINARY_DIR}/?.so ${spec}
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "LIVEPULL_BUILD_DIR=${CMAKE_BINARY_DIR}" TIMEOUT 600)
endforeach()

find_program(PYTHON3 python3 REQUIRED)
add_test(NAME emulator COMMAND ${PYTHON3} ${CMAKE_SOURCE_DIR}/tests/emulator/test_emulator.py
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
