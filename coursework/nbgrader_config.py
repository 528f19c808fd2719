"""nbgrader configuration of the tinydtl coursework (read from this folder: run nbgrader commands here).

One assignment per lesson, in ``source/<assignment>/<assignment>.ipynb``. Everything nbgrader writes —
``release/``, ``submitted/``, ``autograded/``, ``feedback/``, ``gradebook.db`` (and its backups) and
``grades.csv`` — lands next to this file and is ignored by git. See the README ("Coursework") and
docs/teaching.md.
"""

import os

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

here = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.root = here
c.CourseDirectory.course_id = "tinydtl"

# The exchange (release_assignment / fetch_assignment / submit / collect) is only needed when students
# work on the same machine or JupyterHub; a shared, writable folder. Collecting by hand (copying
# submissions into submitted/<student>/<assignment>/) needs none of it.
c.Exchange.root = os.environ.get("TINYDTL_NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")
c.Exchange.timezone = "UTC"

# A cell that takes longer than this (seconds) is stopped; every assignment runs in well under a minute.
c.Execute.timeout = 120

# The feedback a student receives shows the grade of every test cell and the failed checks' messages,
# never the source of the hidden tests (nbgrader's default feedback would show it).
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
