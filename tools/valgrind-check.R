# Judge a valgrind XML log (make valgrind) by umfrage's own frames.
#
#   Rscript tools/valgrind-check.R valgrind.xml
#
# R itself makes valgrind report "possibly lost" blocks and, in places,
# conditional jumps on uninitialised values; those are not ours. This script
# fails (exit status 1) on
#  - any memory error (invalid read/write/free, uninitialised value, overlap,
#    ...) with a frame in umfrage.so in any of its stacks (where it happened,
#    where the block was allocated, where an uninitialised value came from);
#  - a definitely (or indirectly) lost block allocated with umfrage.so on the
#    stack,
# and prints each of them with its stack. Other reports are only counted.
# Base R only (no XML package): the log's structure is simple enough.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1L) stop("usage: Rscript tools/valgrind-check.R <valgrind.xml>", call. = FALSE)
file <- args[1L]
say <- function(...) cat("valgrind-check: ", ..., "\n", sep = "")
if (!file.exists(file)) {
  say("no log at ", file, " (did valgrind run?)")
  quit(save = "no", status = 1L)
}
xml <- paste(readLines(file, warn = FALSE), collapse = "\n")
if (!grepl("</valgrindoutput>", xml, fixed = TRUE)) {
  say("the log is incomplete (valgrind or R died?): ", file)
  quit(save = "no", status = 1L)
}

# contents of every <t>...</t> in x (a single string)
tag <- function(x, t) {
  if (!length(x)) return(character())
  x <- paste(x, collapse = "\n")
  m <- regmatches(x, gregexpr(sprintf("(?s)<%s>.*?</%s>", t, t), x, perl = TRUE))[[1L]]
  sub(sprintf("(?s)^<%s>(.*)</%s>$", t, t), "\\1", m, perl = TRUE)
}
unescape <- function(x) {
  x <- gsub("&lt;", "<", x, fixed = TRUE)
  x <- gsub("&gt;", ">", x, fixed = TRUE)
  gsub("&amp;", "&", x, fixed = TRUE)
}
# "fn (file:line) [obj]" for each frame of a stack
frames <- function(stack) {
  vapply(tag(stack, "frame"), function(f) {
    fn <- tag(f, "fn"); obj <- tag(f, "obj"); fl <- tag(f, "file"); ln <- tag(f, "line")
    sprintf("%s%s [%s]", if (length(fn)) unescape(fn) else "?",
            if (length(fl)) sprintf(" (%s:%s)", fl, ln) else "",
            if (length(obj)) basename(obj) else "?")
  }, "", USE.NAMES = FALSE)
}

errors <- tag(xml, "error")
ours <- character()
kinds_other <- character()
for (e in errors) {
  kind <- tag(e, "kind")
  stacks <- tag(e, "stack")
  in_umfrage <- any(grepl("<obj>[^<]*umfrage\\.so</obj>", stacks))
  leak <- grepl("^Leak_", kind)
  judged <- if (leak) kind %in% c("Leak_DefinitelyLost", "Leak_IndirectlyLost") && in_umfrage
            else in_umfrage
  if (!judged) {
    kinds_other <- c(kinds_other, kind)
    next
  }
  what <- c(tag(e, "what"), tag(tag(e, "xwhat"), "text"))
  aux <- tag(e, "auxwhat")
  block <- c(sprintf("%s: %s", kind, unescape(what[1L])))
  for (i in seq_along(stacks)) {
    if (i > 1L && length(aux) >= i - 1L) block <- c(block, paste0("  ", unescape(aux[i - 1L])))
    block <- c(block, paste0("    ", head(frames(stacks[i]), 12L)))
  }
  ours <- c(ours, paste(block, collapse = "\n"))
}

if (length(kinds_other)) {
  tb <- table(kinds_other)
  say("not ours (no umfrage.so frame, or only possibly lost): ",
      paste(sprintf("%s %d", names(tb), as.integer(tb)), collapse = ", "))
}
if (length(ours)) {
  say(length(ours), " report(s) with umfrage.so on the stack:")
  cat(ours, sep = "\n\n")
  cat("\n")
  quit(save = "no", status = 1L)
}
say("no errors and no definite leaks in umfrage's code (", length(errors), " report(s) in all)")
