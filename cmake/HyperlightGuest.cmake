# HyperlightGuest.cmake - hyperlight_add_guest(): build a guest in a host project, with musl-gcc through hyperlight-guest-cc.
#
#   hyperlight_add_guest(<name> <source>...
#       [OUTPUT_NAME <file>]            default <name>
#       [OUTPUT_DIRECTORY <dir>]        default ${CMAKE_CURRENT_BINARY_DIR}
#       [COMPILE_OPTIONS <option>...]   after HYPERLIGHT_GUEST_C_FLAGS
#       [COMPILE_DEFINITIONS <def>...]  NAME or NAME=VALUE
#       [INCLUDE_DIRECTORIES <dir>...]  relative to the current source directory
#       [LINK_OPTIONS <option>...]
#       [DEPENDS <file-or-target>...]   rebuild when these change
#       [EXCLUDE_FROM_ALL])
#
# Creates the custom target <name>, which builds the guest ELF file. Its path
# is the target property HYPERLIGHT_GUEST_FILE:
#   $<TARGET_PROPERTY:<name>,HYPERLIGHT_GUEST_FILE>
#
# Why custom commands and not add_executable: a guest needs a different
# compiler (musl-gcc) from the host project's, and CMake has one C compiler
# per project. hyperlight-guest-cc brings musl, the guest library and every
# option, so each source becomes one command (with a depfile, so header
# changes rebuild it) and the link one more.
#
# Needs HYPERLIGHT_GUEST_CC (set by HyperlightConfig.cmake) and musl-gcc.

# Options for every guest compile: the default optimisation, not the host
# project's CMAKE_C_FLAGS (which belong to another compiler).
set(HYPERLIGHT_GUEST_C_FLAGS "-O2 -g" CACHE STRING
	"Compiler options for guests built by hyperlight_add_guest (a space-separated list)")

# The function records the policies in force here, whatever the caller's
# cmake_minimum_required says: DEPFILE paths as CMake 3.20 reads them.
cmake_policy(PUSH)
cmake_policy(VERSION 3.20)

function(hyperlight_add_guest name)
	cmake_parse_arguments(PARSE_ARGV 1 arg "EXCLUDE_FROM_ALL" "OUTPUT_NAME;OUTPUT_DIRECTORY"
		"COMPILE_OPTIONS;COMPILE_DEFINITIONS;INCLUDE_DIRECTORIES;LINK_OPTIONS;DEPENDS")
	set(sources ${arg_UNPARSED_ARGUMENTS})
	if(NOT sources)
		message(FATAL_ERROR "hyperlight_add_guest(${name}): no source files")
	endif()
	if(NOT Hyperlight_guest_FOUND OR NOT HYPERLIGHT_GUEST_CC)
		message(FATAL_ERROR "hyperlight_add_guest(${name}): this Hyperlight installation has no "
			"guest runtime (hyperlight-guest-cc, libhyperlight_guest.a); it was built with "
			"HL_BUILD_GUESTS=OFF")
	endif()
	if(NOT DEFINED ENV{HYPERLIGHT_GUEST_CC})
		find_program(HYPERLIGHT_MUSL_GCC musl-gcc)
		if(NOT HYPERLIGHT_MUSL_GCC)
			message(FATAL_ERROR "hyperlight_add_guest(${name}): musl-gcc not found; guests are "
				"built with it (Debian: apt-get install musl-tools)")
		endif()
	endif()

	if(NOT arg_OUTPUT_NAME)
		set(arg_OUTPUT_NAME ${name})
	endif()
	if(NOT arg_OUTPUT_DIRECTORY)
		set(arg_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
	endif()
	get_filename_component(outdir "${arg_OUTPUT_DIRECTORY}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
	set(output "${outdir}/${arg_OUTPUT_NAME}")
	set(objdir "${CMAKE_CURRENT_BINARY_DIR}/CMakeFiles/${name}.guest")

	separate_arguments(cflags UNIX_COMMAND "${HYPERLIGHT_GUEST_C_FLAGS}")
	list(APPEND cflags ${arg_COMPILE_OPTIONS})
	foreach(dir IN LISTS arg_INCLUDE_DIRECTORIES)
		get_filename_component(dir "${dir}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
		list(APPEND cflags "-I${dir}")
	endforeach()
	foreach(def IN LISTS arg_COMPILE_DEFINITIONS)
		list(APPEND cflags "-D${def}")
	endforeach()

	set(objects "")
	set(abs_sources "")
	foreach(src IN LISTS sources)
		get_filename_component(src "${src}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
		list(APPEND abs_sources "${src}")
		# The object's name follows the source's path, so that a.c and sub/a.c differ.
		file(RELATIVE_PATH rel "${CMAKE_CURRENT_SOURCE_DIR}" "${src}")
		string(REPLACE "../" "__/" rel "${rel}")
		set(obj "${objdir}/${rel}.o")
		get_filename_component(dir "${obj}" DIRECTORY)
		file(MAKE_DIRECTORY "${dir}")
		add_custom_command(OUTPUT "${obj}"
			COMMAND "${HYPERLIGHT_GUEST_CC}" ${cflags} -MD -MF "${obj}.d" -c "${src}" -o "${obj}"
			DEPENDS "${src}" "${HYPERLIGHT_GUEST_CC}" ${arg_DEPENDS}
			DEPFILE "${obj}.d"
			COMMENT "Building guest object ${rel}.o (${name})"
			VERBATIM)
		list(APPEND objects "${obj}")
	endforeach()

	add_custom_command(OUTPUT "${output}"
		COMMAND "${CMAKE_COMMAND}" -E make_directory "${outdir}"
		COMMAND "${HYPERLIGHT_GUEST_CC}" ${arg_LINK_OPTIONS} -o "${output}" ${objects}
		DEPENDS ${objects} "${HYPERLIGHT_GUEST_CC}" "${HYPERLIGHT_GUEST_LIBRARY}"
		COMMENT "Linking guest ${arg_OUTPUT_NAME}"
		VERBATIM)

	if(arg_EXCLUDE_FROM_ALL)
		set(all "")
	else()
		set(all ALL)
	endif()
	add_custom_target(${name} ${all} DEPENDS "${output}" SOURCES ${abs_sources})
	set_target_properties(${name} PROPERTIES HYPERLIGHT_GUEST_FILE "${output}")
endfunction()

cmake_policy(POP)
