"""An eval on the scripted model that kills itself (SIGKILL) once COUNT lines are in the FOLDER journals
(samples, verdicts or curated, over both parts), for tests/test_eval.py.
`python tests/eval_harness.py SPEC FOLDER COUNT` (COUNT 0: no kill); prints the draws it asked for."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from test_eval import ScriptedModel, eval_config

from factory.eval import evaluate
from factory.storage import Journal

if __name__ == "__main__":
    spec = json.loads(Path(sys.argv[1]).read_text())
    folder, count = sys.argv[2], int(sys.argv[3])
    if count:
        seen = {"lines": 0}
        append = Journal.append

        def counted_append(self, rows):
            rows = list(rows)
            append(self, rows)
            if self.path.parent.name == folder:
                seen["lines"] += len(rows)
                if seen["lines"] >= count:
                    os.kill(os.getpid(), signal.SIGKILL)

        Journal.append = counted_append
    model = ScriptedModel()
    evaluate(eval_config(Path(spec["tmp"])), lambda line: None, start_model=lambda: model)
    print("asked", model.asked)
