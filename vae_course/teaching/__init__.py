"""The course's own machinery: exercises and their checkers, the notebook runner, the grader, the student edition,
the website, the slides and their web assets.

Used by every notebook (``from vae_course.teaching import exercises``) and by the command line
(``python -m vae_course execute|grade|student-edition|site|slides``).

* :mod:`~vae_course.teaching.exercises`        checks, hints and reference answers of the exercises (notebooks 00-12)
* :mod:`~vae_course.teaching.execute`          runs the notebooks top to bottom (``python -m vae_course execute``)
* :mod:`~vae_course.teaching.grade`            grades student notebooks (``python -m vae_course grade``)
* :mod:`~vae_course.teaching.sandbox`          contains each graded submission: throwaway folder, scrubbed environment,
  limits, its own uid as root, every process killed, signed verdicts
* :mod:`~vae_course.teaching.output_folder`    output folders the commands may write into (empty or their own)
* :mod:`~vae_course.teaching.notebook_io`      broken notebooks named in one sentence; atomic notebook writes
* :mod:`~vae_course.teaching.student_edition`  the notebooks without solutions
  (``python -m vae_course student-edition``)
* :mod:`~vae_course.teaching.website`          the course as a static website (``python -m vae_course site``)
* :mod:`~vae_course.teaching.site_pages`       the site's public notebook copies, tables of contents, search index
  and README pages
* :mod:`~vae_course.teaching.slides`           offline reveal.js decks and the slide tags
  (``python -m vae_course slides``)
* :mod:`~vae_course.teaching.lecture_decks`    the lecture decks, built from ``lectures/N_name.md``
* :mod:`~vae_course.teaching.web_assets`       local copies of MathJax and reveal.js for the site and the slides

Each module's ``main`` (its command-line entry) is not re-exported here, since four modules have one: call it as
``vae_course.teaching.grade.main``.
"""
from . import exercises
from .execute import NOTEBOOK_DIR, course_notebooks, execute_notebook, store_stills
from .grade import (GradingInterrupted, Report, VERDICTS, checker_names, csv_cell, csv_problem, display_names,
                    format_table, grade_all, grade_notebook, submissions, table, verdicts_of, write_csv)
from .output_folder import MARKER, claim_output_folder, output_marker
from .notebook_io import (NotebookError, check_notebooks, check_vendor_folder, read_notebook,
                          write_notebook_atomically)
from .sandbox import (ARM_CELL, HIDDEN_TMP, KEY_FILE, Limits, Sandbox, TOKEN_VARIABLE, UID_RANGE, arm, kernel_env,
                      launch, signed_message, verify)
from .slides import (DECK_TEMPLATE, LONG_CODE_LINES, MANUAL_TAG, MAX_CELLS_PER_SLIDE, SLIDE_TYPES, build_slides,
                     convention, deck_notebook, has_slide_metadata, make_exporter, tag_main, tag_slides)
from .student_edition import (ANSWER_TAG, INTRO, MARKDOWN_STUB, STUB, SolutionMarkerError, TOP_LEVEL_STUB, build,
                              has_solution, nbgrader_source, strip_solutions, student_notebook)
from .web_assets import (AssetError, MATHJAX_CONFIG, MATHJAX_SCRIPT, PACKAGES, REVEAL_PREFIX, build_for_cli, fetch,
                         install, mathjax_html, vendor_dir)
from .site_pages import link_pages, readme_sections
from .website import SiteReport, build_site, course_notebooks, without_widgets

__all__ = [
    "ARM_CELL", "GradingInterrupted", "HIDDEN_TMP", "KEY_FILE", "Limits", "MARKER", "Sandbox", "TOKEN_VARIABLE",
    "UID_RANGE", "arm", "claim_output_folder", "csv_cell", "csv_problem", "kernel_env", "launch", "output_marker",
    "signed_message", "verify", "write_csv",
    "ANSWER_TAG", "AssetError", "DECK_TEMPLATE", "INTRO", "LONG_CODE_LINES", "MANUAL_TAG", "MARKDOWN_STUB",
    "MATHJAX_CONFIG", "MATHJAX_SCRIPT", "MAX_CELLS_PER_SLIDE", "NOTEBOOK_DIR", "PACKAGES", "REVEAL_PREFIX", "Report",
    "SLIDE_TYPES", "STUB", "SiteReport", "SolutionMarkerError", "TOP_LEVEL_STUB", "VERDICTS", "build", "build_for_cli",
    "build_site", "build_slides", "checker_names", "convention", "course_notebooks", "deck_notebook", "display_names",
    "execute_notebook", "fetch", "format_table", "grade_all", "grade_notebook", "has_slide_metadata", "has_solution",
    "install", "link_pages", "make_exporter", "mathjax_html", "nbgrader_source", "readme_sections", "store_stills",
    "strip_solutions", "student_notebook", "submissions", "table", "tag_main", "tag_slides", "vendor_dir",
    "verdicts_of", "without_widgets",
]
__all__ += ["NotebookError", "check_notebooks", "check_vendor_folder", "read_notebook",  # issue 27 §3
            "write_notebook_atomically"]
