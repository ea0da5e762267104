"""Rate a recorded run; the rating becomes evidence for the skill version it used.

    python examples/record_feedback.py RUN_ID 0.9 --comment "clear and correct" [--config F]

Rating the same run again replaces your earlier rating. (Over HTTP: POST /v1/feedback.)
"""

import argparse

from evofuse.config import load_settings
from evofuse.services import Services
from evofuse.store.feedback import record_feedback

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_id")
    parser.add_argument("score", type=float, help="between 0 (useless) and 1 (perfect)")
    parser.add_argument("--comment", default=None)
    parser.add_argument("--config", default=None)
    args = parser.parse_args()
    services = Services.from_settings(load_settings(args.config))
    try:
        row = record_feedback(
            services.store, run_id=args.run_id, score=args.score, comment=args.comment
        )
    finally:
        services.close()
    print(f"recorded feedback {row.score:g} for run {row.run_id}")
