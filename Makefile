# Developer tasks for the umfrage package (GNU make).
#
#   make test     install test deps + the package, run tests/testthat
#   make report   knit the KI-in-Kommunen report (vignettes/kik-kommunen.Rmd,
#                 German, synthetic microdata) to ./kik-kommunen.html
#   make bench    run bench/run.R against the installed package
#   make check    R CMD build + R CMD check --as-cran (fails on ERROR/WARNING)
#   make clean    remove build products
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
	bench check clean

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
out <- rmarkdown::render(input, output_format = fmt, output_dir = out_dir,
                         intermediates_dir = work, envir = new.env(), quiet = TRUE)
unlink(work, recursive = TRUE)
cat("report: ", normalizePath(out), "\n", sep = "")
endef
export REPORT_R

report: deps-report install
	@$(RSCRIPT) -e 'eval(parse(text = Sys.getenv("REPORT_R")))'

bench: deps-bench install
	@$(RSCRIPT) bench/run.R

check: deps-check
	@rm -f $(PKG)_*.tar.gz
	$(R) CMD build .
	$(R) CMD check --as-cran $(MANUAL_FLAG) $(TARBALL)
	@if grep -Eq '^Status:.*(ERROR|WARNING)' $(PKG).Rcheck/00check.log; then \
		echo "check: ERROR/WARNING reported, see $(PKG).Rcheck/00check.log" >&2; exit 1; \
	fi
	@echo "check: OK ($$(grep '^Status:' $(PKG).Rcheck/00check.log))"

clean:
	rm -rf $(PKG)_*.tar.gz $(PKG).Rcheck
	rm -f src/*.o src/*.so src/*.dll
	rm -f *.html
