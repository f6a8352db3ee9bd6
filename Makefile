# Developer tasks for the umfrage package (GNU make).
#
#   make test     install test deps + the package, run tests/testthat
#   make report   knit the KI-in-Kommunen report (vignettes/kik-kommunen.Rmd,
#                 German, synthetic microdata) to ./kik-kommunen.html, and
#                 its tables as an Excel Tabellenband to
#                 ./kik-kommunen-tabellenband.xlsx (needs openxlsx2)
#   make bench    run bench/run.R against the installed package
#   make check    R CMD build + R CMD check --as-cran (fails on ERROR/WARNING)
#   make sanitize the tests against an ASan+UBSan build (fails on any report)
#   make valgrind the tests under valgrind (fails on invalid accesses or
#                 definite leaks in umfrage's code; VALGRIND_TESTS=regex for
#                 a subset of the test files)
#   make fuzz     random calls of every C routine against the ASan+UBSan
#                 build (FUZZ_SECONDS, default 600; FUZZ_SEED)
#   make look     example tables (English and German; a weighted banner
#                 with an MR set, a small base, a by-layer) written to look/
#                 as HTML, xlsx and (when as_flextable() exists) docx; the
#                 xlsx/docx converted to PDF and PNG (LibreOffice headless,
#                 pdftoppm), the HTML screenshotted (headless Chromium), to
#                 look at: look/*.png
#   make clean    remove build products
#
# The instrumented builds go into private libraries under .lib/ (SAN_LIB,
# VG_LIB), with private Makevars in tools/ (R_MAKEVARS_USER); the user's
# library and ~/.R/Makevars are never touched.
#
# Missing R packages / pandoc are installed by tools/deps.R (Debian packages
# first when root, then CRAN via the machine's configured repos).

R       ?= R
RSCRIPT ?= Rscript

PKG     := umfrage
VERSION := $(shell sed -n 's/^Version:[[:space:]]*//p' DESCRIPTION 2>/dev/null | tr -d '[:space:]')
TARBALL := $(PKG)_$(VERSION).tar.gz

# Without pdflatex the PDF manual cannot be built; skip it rather than fail.
MANUAL_FLAG := $(if $(shell command -v pdflatex 2>/dev/null),,--no-manual)

.NOTPARALLEL:
.DEFAULT_GOAL := test

.PHONY: all deps-test deps-report deps-bench deps-check install test report \
	bench check clean sanitize-install sanitize valgrind-install valgrind fuzz look

all: test

deps-test:
	@$(RSCRIPT) tools/deps.R test

deps-report:
	@$(RSCRIPT) tools/deps.R report

deps-bench:
	@$(RSCRIPT) tools/deps.R bench

deps-check:
	@$(RSCRIPT) tools/deps.R check

# Install into the first writable library (the user library when not root).
# The build log is shown in full on failure; on success only compiler
# warnings are shown.
install:
	@echo "install: $(PKG)"
	@lib=$$($(RSCRIPT) -e 'l <- .libPaths()[1L]; if (file.access(l, 2L) != 0L) { l <- path.expand(Sys.getenv("R_LIBS_USER")); dir.create(l, recursive = TRUE, showWarnings = FALSE) }; cat(l)') && \
	log=$$(mktemp) && \
	if $(R) CMD INSTALL --no-multiarch --preclean -l "$$lib" . >"$$log" 2>&1; then \
		grep -i 'warning' "$$log" || true; rm -f "$$log"; \
	else \
		cat "$$log"; rm -f "$$log"; echo "install: R CMD INSTALL failed" >&2; exit 1; \
	fi

test: deps-test install
	@$(RSCRIPT) tools/run-tests.R

# Render the KI-in-Kommunen report (else, in an older tree, the getting-started
# vignette) in a temporary copy of vignettes/ (so nothing is left behind
# there), writing the HTML into the repo root. The report reads the installed
# package's data, hence the dependency on install.
define REPORT_R
f <- if (file.exists("vignettes/kik-kommunen.Rmd")) "kik-kommunen.Rmd" else "getting-started.Rmd"
if (!file.exists(file.path("vignettes", f))) stop("no vignette found: vignettes/", f)
out_dir <- normalizePath(".")
work <- tempfile("report-")
dir.create(work)
file.copy(list.files("vignettes", full.names = TRUE, no.. = TRUE), work, recursive = TRUE)
input <- file.path(work, f)
fmt <- tryCatch(rmarkdown::default_output_format(input)$$name, error = function(e) "")
if (!grepl("html", fmt)) fmt <- "html_document"
env <- new.env()
out <- rmarkdown::render(input, output_format = fmt, output_dir = out_dir,
                         intermediates_dir = work, envir = env, quiet = TRUE)
unlink(work, recursive = TRUE)
cat("report: ", normalizePath(out), "\n", sep = "")
# The report's tables as an Excel Tabellenband next to the HTML: the report
# collects them (title, source) in `tabellenband`; tab_xlsx() writes them.
tb <- get0("tabellenband", envir = env, inherits = FALSE)
if (length(tb)) {
  xlsx <- file.path(out_dir, sub("[.]Rmd$$", "-tabellenband.xlsx", f))
  if (!exists("tab_xlsx", envir = asNamespace("umfrage"))) {
    message("report: Tabellenband skipped: this version of umfrage has no tab_xlsx()")
  } else if (!requireNamespace("openxlsx2", quietly = TRUE)) {
    message("report: Tabellenband skipped: the openxlsx2 package is not installed")
  } else {
    umfrage::tab_xlsx(lapply(tb, `[[`, "tab"), xlsx, title = vapply(tb, `[[`, "", "title"),
                      source = vapply(tb, `[[`, "", "source"), locale = getOption("umfrage.locale"),
                      show = c("count", "pct", "ci", "letters"))
    cat("report: ", normalizePath(xlsx), "\n", sep = "")
  }
}
endef
export REPORT_R

report: deps-report install
	@$(RSCRIPT) -e 'eval(parse(text = Sys.getenv("REPORT_R")))'

bench: deps-bench install
	@$(RSCRIPT) bench/run.R

# Tables as they leave R (tools/look.R): uses openxlsx2 (tools/deps.R test
# profile), knitr, LibreOffice (soffice), pdftoppm and chromium; whatever is
# missing is skipped with a message.
look: deps-test install
	@$(RSCRIPT) tools/look.R look

check: deps-check
	@rm -f $(PKG)_*.tar.gz
	$(R) CMD build .
	$(R) CMD check --as-cran $(MANUAL_FLAG) $(TARBALL)
	@if grep -Eq '^Status:.*(ERROR|WARNING)' $(PKG).Rcheck/00check.log; then \
		echo "check: ERROR/WARNING reported, see $(PKG).Rcheck/00check.log" >&2; exit 1; \
	fi
	@echo "check: OK ($$(grep '^Status:' $(PKG).Rcheck/00check.log))"

# ---- instrumented builds ---------------------------------------------------

SAN_LIB ?= $(CURDIR)/.lib/asan
VG_LIB  ?= $(CURDIR)/.lib/valgrind
# R is not built with ASan, so the runtime is preloaded into the R process.
LIBASAN := $(shell gcc -print-file-name=libasan.so 2>/dev/null)
SAN_ENV := LD_PRELOAD=$(LIBASAN) \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:detect_stack_use_after_return=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
SAN_REPORT := ERROR: AddressSanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer
VALGRIND_TESTS ?=

# $(call private_install,<library>,<makevars>,<label>): R CMD INSTALL with a
# private Makevars into a private library; objects are cleaned before and
# after, so no instrumented object is left in src/.
define private_install
	@echo "$(3): building $(PKG) into $(1)"
	@mkdir -p "$(1)"
	@log=$$(mktemp) && \
	if R_MAKEVARS_USER="$(CURDIR)/$(2)" $(R) CMD INSTALL --no-multiarch --preclean --clean \
		--no-test-load -l "$(1)" . >"$$log" 2>&1; then \
		grep -i 'warning' "$$log" || true; rm -f "$$log"; \
	else \
		cat "$$log"; rm -f "$$log"; echo "$(3): R CMD INSTALL failed" >&2; exit 1; \
	fi
endef

sanitize-install:
	$(call private_install,$(SAN_LIB),tools/sanitize.mk,sanitize)

# The whole test suite in one R process with the sanitizer runtimes; any
# report ends it (abort_on_error, halt_on_error), and the log is searched for
# reports from child processes too.
sanitize: deps-test sanitize-install
	@echo "sanitize: running the tests under AddressSanitizer + UBSan"
	@log="$(SAN_LIB)/../sanitize-tests.log"; st="$$log.status"; \
	{ R_LIBS="$(SAN_LIB)$${R_LIBS:+:$$R_LIBS}" $(SAN_ENV) UMFRAGE_TEST_SLOW=1 \
		$(RSCRIPT) tools/run-tests.R; echo $$? >"$$st"; } 2>&1 | tee "$$log"; \
	status=$$(cat "$$st"); rm -f "$$st"; \
	if grep -Eq '$(SAN_REPORT)' "$$log"; then \
		echo "sanitize: sanitizer report(s) in the log ($$log)" >&2; status=1; \
	fi; \
	if [ "$$status" -ne 0 ]; then echo "sanitize: FAILED (status $$status)" >&2; exit 1; fi; \
	echo "sanitize: OK, no sanitizer reports"

valgrind-install:
	$(call private_install,$(VG_LIB),tools/valgrind.mk,valgrind)

# valgrind reports R's own noise too; tools/valgrind-check.R fails only on
# errors and definite leaks with a frame in umfrage.so.
valgrind: deps-test valgrind-install
	@echo "valgrind: running the tests under valgrind$(if $(VALGRIND_TESTS), (files matching '$(VALGRIND_TESTS)'))"
	@xml="$(VG_LIB)/../valgrind.xml"; rm -f "$$xml"; \
	R_LIBS="$(VG_LIB)$${R_LIBS:+:$$R_LIBS}" UMFRAGE_TEST_SLOW=1 \
		UMFRAGE_TEST_FILTER="$(VALGRIND_TESTS)" \
		$(R) -d "valgrind --tool=memcheck --leak-check=full --track-origins=yes \
			--xml=yes --xml-file=$$xml" --vanilla --no-echo -f tools/run-tests.R; \
	status=$$?; \
	$(RSCRIPT) tools/valgrind-check.R "$$xml" || status=1; \
	if [ "$$status" -ne 0 ]; then echo "valgrind: FAILED" >&2; exit 1; fi; \
	echo "valgrind: OK"

fuzz: sanitize-install
	@FUZZ_LIB="$(SAN_LIB)" FUZZ_PRELOAD="$(LIBASAN)" $(RSCRIPT) tools/fuzz.R

clean:
	rm -rf $(PKG)_*.tar.gz $(PKG).Rcheck .lib .fuzz
	rm -f src/*.o src/*.so src/*.dll
	rm -f *.html kik-kommunen-tabellenband.xlsx
	rm -rf look
