# extract-samples.awk - writes out the marked code blocks of Markdown documents: the C samples tests/docs compiles, or the files and shell steps tests/package builds and runs.
#
# Usage: awk -v mode=c -v out=DIR -f extract-samples.awk DOC.md...      (tests/docs)
#        awk -v mode=package -v out=DIR -f extract-samples.awk DOC.md   (tests/package)
#
# A marker comment on the line before a fenced code block (blank lines may
# sit between; prose in between cancels it) says what the block is:
#   <!-- sample: host -->              a complete host program: compiled and
#                                      linked against libhyperlight
#   <!-- sample: host run -->          the same, and run where KVM works, in a
#                                      directory holding the sample guests and
#                                      the document's own guests: must exit 0
#   <!-- sample: guest [NAME] -->      a complete guest: built with the guest
#                                      toolchain (as NAME in the run directory)
#   <!-- sample: host-fragment -->     file-scope code (declarations and
#   <!-- sample: guest-fragment -->    functions, no main): compiled, not linked,
#                                      after the API header and the common libc
#                                      headers
#   <!-- sample: host-statements -->   statements: compiled inside a function
#   <!-- sample: guest-statements -->  body; their #include lines are moved to
#                                      file scope
#   <!-- file: NAME -->                a file of the package test's samples
#   <!-- run -->                       a shell step of the package test, run always
#   <!-- run-kvm -->                   a shell step run only with KVM
#   <!-- output -->                    the exact stdout of the step before it
#   <!-- skip: REASON -->              not used by the package test (the
#                                      reason is required)
#
# mode=c: every C block needs a sample: or file: marker (a file: block is a
# complete program, host or guest by the header it includes). Writes
# DIR/NNN.c per block and one line per block in DIR/manifest:
#   NNN <TAB> FILE <TAB> LINE <TAB> KIND <TAB> NAME-OR-RUN
# where LINE is the document line of the block's first code line and KIND
# is host, guest, host-fragment, guest-fragment, host-statements,
# guest-statements or file.
#
# mode=package: every block in c, cmake, make, sh or python needs a file:,
# run, run-kvm, output or skip: marker (text blocks need none). Writes a
# file: block to DIR/NAME, a run block to DIR/.blocks/NNN.run, a run-kvm
# block to DIR/.blocks/NNN.kvm and an output block to DIR/.blocks/NNN.out,
# NNN being the number of the run block it follows.
#
# Either way no sample escapes its test. Exit status 0, or 1 after naming
# every unmarked or malformed block on stderr as FILE:LINE: message.

BEGIN {
	bad = 0
	if (out == "" || (mode != "c" && mode != "package")) {
		print "extract-samples.awk: set -v mode=c|package -v out=DIR" > "/dev/stderr"
		bad = 2
		exit
	}
	if (mode == "c") {
		system("mkdir -p '" out "'")
		manifest = out "/manifest"
		printf "" > manifest
	} else {
		system("mkdir -p '" out "/.blocks'")
	}
	n = 0; infence = 0; marker = ""; marker_line = 0; target = ""; last_run = ""
}

function fail(line, msg) {
	fail_in(FILENAME, line, msg)
}

function fail_in(file, line, msg) {
	printf "%s:%d: %s\n", file, line, msg > "/dev/stderr"
	bad = 1
}

# The target of a C block for mode=c, or "" (after saying why when it is wrong).
function c_block(lang,    is_c, kind, extra, nw, w, id) {
	is_c = lang == "c" || lang == "C" || lang == "h"
	if (marker ~ /^sample:/ && !is_c) {
		fail(marker_line, "a sample marker before a '" lang "' block: sample markers are for C blocks")
		return ""
	}
	if (!is_c)
		return ""
	kind = ""; extra = ""
	if (marker ~ /^sample: /) {
		nw = split(substr(marker, 9), w, /[ \t]+/)
		kind = w[1]
		if (kind == "host" && nw == 1) {
			extra = ""
		} else if (kind == "host" && nw == 2 && w[2] == "run") {
			extra = "run"
		} else if (kind == "guest" && nw <= 2) {
			extra = nw == 2 ? w[2] : ""
			if (extra != "" && extra !~ /^[A-Za-z0-9_.-]+$/)
				fail(marker_line, "guest name '" extra "' must be a plain file name")
		} else if (nw == 1 && kind ~ /^(host|guest)-(fragment|statements)$/) {
			extra = ""
		} else {
			fail(marker_line, "unknown sample marker '" marker "' (host [run], guest [NAME], host-fragment, guest-fragment, host-statements, guest-statements)")
			kind = ""
		}
	} else if (marker ~ /^file: /) {
		kind = "file"
		extra = substr(marker, 7)
	} else if (marker == "") {
		fail(FNR, "a C block without a marker comment on the line before it, e.g. <!-- sample: host --> (the kinds are listed in tests/lib/extract-samples.awk)")
	} else {
		fail(marker_line, "a C block marked '" marker "': C blocks are compiled, mark it <!-- sample: KIND -->")
	}
	if (kind == "")
		return ""
	n++
	id = sprintf("%03d", n)
	printf "%s\t%s\t%d\t%s\t%s\n", id, FILENAME, FNR + 1, kind, extra > manifest
	return out "/" id ".c"
}

# The target of a block for mode=package, or "" (after saying why when it is wrong).
function package_block(lang,    name) {
	if (marker ~ /^file: /) {
		name = substr(marker, 7)
		if (name ~ /\.\./ || name ~ /^\//) {
			fail(FNR, "file name '" name "' must stay inside the sample directory")
			return ""
		}
		return out "/" name
	}
	if (marker == "run" || marker == "run-kvm") {
		if (lang != "sh")
			fail(FNR, "a " marker " block must be sh, not '" lang "'")
		n++
		last_run = sprintf("%s/.blocks/%03d", out, n)
		return last_run (marker == "run" ? ".run" : ".kvm")
	}
	if (marker == "output") {
		if (last_run != "")
			return last_run ".out"
		fail(FNR, "an output block with no run block before it")
		return ""
	}
	if (marker ~ /^sample: /)
		fail(marker_line, "a sample: marker in a document of the package test: mark the block file:, run, run-kvm, output or skip:")
	else if (marker == "" && lang ~ /^(c|cmake|make|sh|python)$/)
		fail(FNR, "a " lang " block without a marker comment (file:, run, run-kvm, output, skip:)")
	return ""
}

FNR == 1 {
	if (infence)
		fail_in(fence_file, fence_line, "unterminated code block")
	infence = 0; marker = ""; target = ""
}

!infence && /^<!-- (sample: .*|file: [^ ]+|run|run-kvm|output|skip: .+) -->[ \t]*$/ {
	marker = $0
	sub(/^<!-- /, "", marker)
	sub(/ -->[ \t]*$/, "", marker)
	marker_line = FNR
	next
}

!infence && /^```/ {
	lang = substr($0, 4)
	gsub(/[ \t]/, "", lang)
	infence = 1
	fence_line = FNR
	fence_file = FILENAME
	target = mode == "c" ? c_block(lang) : package_block(lang)
	if (target != "")
		printf "" > target
	marker = ""
	next
}

infence && /^```[ \t]*$/ {
	infence = 0
	if (target != "")
		close(target)
	target = ""
	next
}

infence {
	if (target != "")
		print > target
	next
}

# Prose between a marker and its block cancels the marker.
/[^ \t]/ { marker = "" }

END {
	if (bad == 2)
		exit bad
	if (infence)
		fail_in(fence_file, fence_line, "unterminated code block")
	if (mode == "c")
		close(manifest)
	exit bad
}
