# extract-samples.awk - splits a Markdown document into the samples the package test builds and runs.
#
# Usage: awk -v out=DIR -f extract-samples.awk DOC.md
#
# A marker comment on the line before a fenced code block (blank lines may
# sit between) says what the block is:
#   <!-- file: NAME -->      written to DIR/NAME
#   <!-- run -->             a shell block, run always:           DIR/.blocks/NNN.run
#   <!-- run-kvm -->         a shell block, run only with KVM:    DIR/.blocks/NNN.kvm
#   <!-- output -->          the exact stdout of the run block before it: DIR/.blocks/NNN.out
#   <!-- skip: REASON -->    not used by the test (the reason is required)
# A block in c, cmake, make, sh or python without a marker is an error, so
# that no sample escapes the test; text blocks need none.
# Exit status: 0, or 1 after naming every unmarked or malformed block.

BEGIN {
	if (out == "") {
		print "extract-samples.awk: set -v out=DIR" > "/dev/stderr"
		bad = 2
		exit
	}
	system("mkdir -p '" out "/.blocks'")
	marker = ""; infence = 0; target = ""; n = 0; last_run = ""; bad = 0
}

function fail(msg) {
	printf "%s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"
	bad = 1
}

!infence && /^<!-- (file: [^ ]+|run|run-kvm|output|skip: .+) -->$/ {
	marker = $0
	sub(/^<!-- /, "", marker)
	sub(/ -->$/, "", marker)
	next
}

!infence && /^```/ {
	lang = substr($0, 4)
	infence = 1
	target = ""
	if (marker ~ /^file: /) {
		name = substr(marker, 7)
		if (name ~ /\.\./ || name ~ /^\//)
			fail("file name '" name "' must stay inside the sample directory")
		else
			target = out "/" name
	} else if (marker == "run" || marker == "run-kvm") {
		if (lang != "sh")
			fail("a " marker " block must be sh, not '" lang "'")
		n++
		last_run = sprintf("%s/.blocks/%03d", out, n)
		target = last_run (marker == "run" ? ".run" : ".kvm")
	} else if (marker == "output") {
		if (last_run == "")
			fail("an output block with no run block before it")
		else
			target = last_run ".out"
	} else if (marker == "" && lang ~ /^(c|cmake|make|sh|python)$/) {
		fail("a " lang " block without a marker comment (file:, run, run-kvm, output, skip:)")
	}
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
	if (infence)
		fail("unterminated code block")
	exit bad
}
