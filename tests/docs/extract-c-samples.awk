# extract-c-samples.awk - finds every fenced C code block of Markdown documents and writes it out with what its marker says to do with it.
#
# Usage: awk -v out=DIR -f extract-c-samples.awk DOC.md...
#
# A marker comment on the line before a ```c block (blank lines may sit
# between; prose in between cancels it) says what the block is:
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
#                                      (tests/package): a complete program,
#                                      host or guest by the header it includes
# A C block without one of these markers is an error, so that every C
# sample in the documentation is compiled.
#
# Output: DIR/NNN.c (the block) and one line per block in DIR/manifest:
#   NNN <TAB> FILE <TAB> LINE <TAB> KIND <TAB> NAME-OR-RUN
# where LINE is the document line of the block's first code line and KIND
# is host, guest, host-fragment, guest-fragment, host-statements,
# guest-statements or file. Exit status 0, or 1 after naming every
# unmarked or malformed block on stderr as FILE:LINE: message.

BEGIN {
	if (out == "") {
		print "extract-c-samples.awk: set -v out=DIR" > "/dev/stderr"
		bad = 2
		exit
	}
	system("mkdir -p '" out "'")
	manifest = out "/manifest"
	printf "" > manifest
	n = 0; bad = 0; infence = 0; marker = ""; marker_line = 0; target = ""
}

function fail(line, msg) {
	fail_in(FILENAME, line, msg)
}

function fail_in(file, line, msg) {
	printf "%s:%d: %s\n", file, line, msg > "/dev/stderr"
	bad = 1
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
	target = ""
	is_c = lang == "c" || lang == "C" || lang == "h"
	if (marker ~ /^sample:/ && !is_c) {
		fail(marker_line, "a sample marker before a '" lang "' block: sample markers are for C blocks")
	} else if (is_c) {
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
			fail(FNR, "a C block without a marker comment on the line before it, e.g. <!-- sample: host --> (the kinds are listed in tests/docs/extract-c-samples.awk)")
		} else {
			fail(marker_line, "a C block marked '" marker "': C blocks are compiled, mark it <!-- sample: KIND -->")
		}
		if (kind != "") {
			n++
			id = sprintf("%03d", n)
			target = out "/" id ".c"
			printf "" > target
			printf "%s\t%s\t%d\t%s\t%s\n", id, FILENAME, FNR + 1, kind, extra > manifest
		}
	}
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
	if (infence)
		fail_in(fence_file, fence_line, "unterminated code block")
	close(manifest)
	exit bad
}
