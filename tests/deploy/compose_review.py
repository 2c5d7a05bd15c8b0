"""The compose stack's refresh goes through a person's review (Airflow's human-in-the-loop
task, maga.pipelines.review_task), answered through the stack's REST API as a reviewer's
tools would: first "Reject run" without a comment (not taken: the review must open again
with nothing published), then "Publish all". Used by test_compose_up.py while the run runs.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

REFRESH = "maga_corpus_refresh"
HITL = "/taskInstances/review/-1/hitlDetails"
OVER = ("failed", "upstream_failed", "skipped", "success", "removed")


def _at(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


class Review:
    """Called once per poll of the run with its id; True once the review is answered."""

    def __init__(self, api: Any, shards: int) -> None:
        self.api, self.shards = api, shards
        self.step, self.seen, self.timings = "wait", {}, {}
        self._t: dict[str, float] = {}

    def _get(self, path: str) -> tuple[int, Any]:
        status, body = self.api("GET", path)
        if status == 401:  # the token outlived its lifetime
            self.api.login()
            status, body = self.api("GET", path)
        return status, body

    def __call__(self, run_id: str) -> bool:
        run = f"/api/v2/dags/{REFRESH}/dagRuns/{run_id}"
        status, ti = self._get(f"{run}/taskInstances/review")
        if status != 200:
            return False
        state = ti["state"]
        if state in OVER:
            raise AssertionError(f"review {state} while {self.step}: not answered by the test")
        if state != "awaiting_input":
            return False
        status, detail = self._get(run + HITL)
        assert status == 200, detail
        keys = detail["params"]["shards"]["value"]
        if self.step == "wait":
            self._t["asked"] = time.monotonic()
            assert len(keys) == self.shards and f"**Shards:** {self.shards}" in detail["body"]
            self.seen["body"] = detail["body"]
            status, body = self.api("PATCH", run + HITL, {"chosen_options": ["Reject run"],
                                    "params_input": {"shards": keys, "comment": ""}})  # fmt: skip
            assert status == 200, body
            self._t["refused"], self.step = time.monotonic(), "refused"
            return False
        if detail["response_received"]:  # the refused answer, before the task took it
            return False
        self.timings["reopen_after_refused_answer_s"] = round(
            time.monotonic() - self._t["refused"], 1
        )
        status, body = self.api("PATCH", run + HITL, {"chosen_options": ["Publish all"],
                                "params_input": {"shards": keys, "comment": "deploy test"}})  # fmt: skip
        assert status == 200, body
        self.timings["asked_to_answered_s"] = round(time.monotonic() - self._t["asked"], 1)
        self.step = "answered"
        return True

    def finish(self, run_id: str, tis: list[dict]) -> dict[str, Any]:
        """After the run: the answer as Airflow kept it, and server-side timings."""
        assert self.step == "answered", self.step
        status, detail = self._get(f"/api/v2/dags/{REFRESH}/dagRuns/{run_id}{HITL}")
        assert status == 200 and detail["chosen_options"] == ["Publish all"], detail
        by_id = {t["task_id"]: t for t in tis if t["map_index"] == -1}
        review, publish = by_id["review"], by_id["publish"]
        assert review["state"] == "success" and publish["state"] == "success", (review, publish)
        answered = _at(detail["responded_at"])
        self.timings["answer_to_review_done_s"] = round(
            (_at(review["end_date"]) - answered).total_seconds(), 1
        )
        self.timings["answer_to_published_s"] = round(
            (_at(publish["end_date"]) - answered).total_seconds(), 1
        )
        return detail
