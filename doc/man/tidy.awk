# tidy.awk - the empty paragraphs scdoc 1.11 writes, made valid man(7):
# a .P before .RE goes after it (the space between two items stays), and a
# .P right after a heading, or before a heading, another .P or the end, is
# dropped (mandoc -T lint warns about each; groff renders them as nothing).
{ line[NR] = $0 }
END {
	for (i = 1; i < NR; i++)
		if (line[i] == ".P" && line[i + 1] == ".RE") {
			line[i] = ".RE"
			line[i + 1] = ".P"
		}
	for (i = 1; i <= NR; i++) {
		if (line[i] == ".P" && (i == NR || line[i - 1] ~ /^\.S[HS] / ||
		    line[i + 1] ~ /^\.(SH|SS|P)( |$)/))
			continue
		print line[i]
	}
}
