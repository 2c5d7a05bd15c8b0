"""Steps of the review tests in ``test_ui_e2e.py`` (they share its Airflow): a tiny
refresh of two shards triggered from the form with ``review=always``, the review
screen, and the answers through the real REST API."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

REFRESH = "maga_corpus_refresh"
HITL = "/taskInstances/review/-1/hitlDetails"


def make_root(root: Path) -> Path:
    """A storage root with registered tool models (tiny random model) and two shards."""
    from maga.models.builtin import resolve_model
    from maga.storage import Storage
    from tests.refresh.helpers import docs, make_registry, shard_bytes

    storage = Storage()
    make_registry(storage, str(root), resolve_model("builtin:tiny-random"))
    for name in ("a", "b"):
        storage.write_bytes(str(root / "source" / f"{name}.jsonl"),
                            shard_bytes(docs(name, 2), "jsonl"))  # fmt: skip
    return root


def overrides(root: Path, *extra: str) -> list[str]:
    return [f"storage.root={root}", "refresh.chunk_docs=2", "refresh.judge_sample=2",
            "refresh.hygiene.near_dup.enabled=false", *extra]  # fmt: skip


def choose(page: Any, field: str, text: str) -> None:
    """Pick ``text`` in the form's select ``field`` (a react-select) as a person does:
    type it, then Enter."""
    box = f"#element_{field} input[role=combobox]"
    page.eval(f"document.querySelector({json.dumps(box)}).focus()")
    page.call("Input.insertText", text=text)
    page.wait_for("Array.from(document.querySelectorAll('[id*=-option-]'))"
                  f".some(e => e.innerText.trim() === {json.dumps(text)})", 15, f"option {text}")  # fmt: skip
    for kind in ("keyDown", "keyUp"):
        page.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                  windowsVirtualKeyCode=13)  # fmt: skip
    page.wait_for(f"document.querySelector('input[name=element_{field}]').value === "
                  f"{json.dumps(text)}", 15, f"{field} = {text}")  # fmt: skip


def wait_task(airflow: Any, run_id: str, task_id: str, states: tuple[str, ...],
              timeout: float) -> dict[str, Any]:  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        status, body = airflow.request("GET", f"/api/v2/dags/{REFRESH}/dagRuns/{quote(run_id)}"
                                       f"/taskInstances/{task_id}", token=airflow.token())  # fmt: skip
        if status == 200 and body["state"] in states:
            return body
        if status == 200 and body["state"] in ("failed", "upstream_failed") and \
                body["state"] not in states:  # fmt: skip
            raise AssertionError(f"{task_id} {body['state']}: {log_of(airflow, run_id)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{task_id} not in {states} after {timeout}s: {body}")
        time.sleep(1)


def wait_reopened(airflow: Any, run_id: str, root: Path, timeout: float = 300) -> dict[str, Any]:
    """After an answer the review cannot take: its task waits for input again (not failed)
    and the answer is kept in the run folder. Returns what was kept."""
    deadline = time.monotonic() + timeout
    while True:
        kept = list(root.glob("runs/*/*/review/refused.json"))
        state = airflow.request("GET", f"/api/v2/dags/{REFRESH}/dagRuns/{quote(run_id)}"
                                "/taskInstances/review", token=airflow.token())[1]["state"]  # fmt: skip
        if state in ("failed", "upstream_failed", "success"):
            raise AssertionError(
                f"review {state} after a refused answer: {log_of(airflow, run_id)}"
            )
        if kept and state == "awaiting_input":
            return json.loads(kept[0].read_text())
        assert time.monotonic() < deadline, f"review not open again after {timeout}s: {state}"
        time.sleep(0.5)


def log_of(airflow: Any, run_id: str) -> str:
    """The run's task states, for a failure message."""
    body = airflow.request("GET", f"/api/v2/dags/{REFRESH}/dagRuns/{quote(run_id)}/"
                           "taskInstances", token=airflow.token())[1]  # fmt: skip
    return ", ".join(f"{t['task_id']}[{t['map_index']}]={t['state']}"
                     for t in body.get("task_instances", []))  # fmt: skip


def manifest(root: Path) -> dict[str, dict[str, Any]]:
    """The processed-shards manifest by shard file name."""
    data = json.loads((root / "corpus" / "maga" / "manifest.json").read_text())
    return {Path(uri).name: e for uri, e in data["shards"].items()}


def answer(airflow: Any, run_id: str, token: str, option: str, **params: Any) -> tuple[int, Any]:
    return airflow.request("PATCH", f"/api/v2/dags/{REFRESH}/dagRuns/{quote(run_id)}{HITL}",
                           {"chosen_options": [option], "params_input": params}, token)  # fmt: skip


def review_in_the_ui(page: Any, airflow: Any, root: Path, artifacts: Path, open_trigger_form: Any,
                     form_problems: Any, submit: Any, read_report_tab: Any) -> dict[str, Any]:  # fmt: skip
    """Trigger from the form, wait for the review, read it, publish shard a only."""
    artifacts.mkdir(parents=True, exist_ok=True)
    open_trigger_form(page, airflow, REFRESH)
    choose(page, "profile", "tiny")
    choose(page, "review", "always")
    page.type_into("input[name=element_source]", str(root / "source"))
    page.type_into("textarea[name=element_overrides]", "\n".join(overrides(root)))
    assert form_problems(page) == []
    run_id = submit(page, REFRESH)
    wait_task(airflow, run_id, "review", ("awaiting_input",), 900)
    asked = time.monotonic()
    seen: dict[str, Any] = {"run_id": run_id}
    data = root / "corpus" / "maga" / "data"
    seen["published_while_waiting"] = (
        sorted(p.name for p in data.glob("*")) if data.exists() else []
    )
    token = airflow.token()
    status, publish = airflow.request("GET", f"/api/v2/dags/{REFRESH}/dagRuns/{quote(run_id)}"
                                      "/taskInstances/publish", token=token)  # fmt: skip
    seen["publish_state"] = publish["state"]
    status, detail = airflow.request("GET", f"/api/v2/dags/{REFRESH}/dagRuns/{quote(run_id)}"
                                     f"{HITL}", token=token)  # fmt: skip
    assert status == 200, detail
    keys = detail["params"]["shards"]["value"]
    key_b = next(k for k in keys if k.startswith("b-"))

    review_page = (f"{airflow.base}/dags/{REFRESH}/runs/{quote(run_id, safe='')}/tasks/review/"
                   "required_actions")  # fmt: skip
    option = "document.querySelector('[data-testid=\"hitl-option-Publish selected shards\"]')"
    ready = f"!!{option} && document.body.innerText.includes('Shards: 2')"
    page.goto(review_page)
    page.wait_for(ready, 90, "the review with its figures and options")
    seen["body"] = page.eval("document.body.innerText")
    # Reject run without a comment: not taken, the review opens again, nothing is lost
    clicked = time.monotonic()
    page.click("document.querySelector('[data-testid=\"hitl-option-Reject run\"]')")
    seen["refused"] = wait_reopened(airflow, run_id, root)
    seen["reopen_s"] = time.monotonic() - clicked
    seen["after_refusal"] = {
        "published": sorted(p.name for p in data.glob("*")) if data.exists() else [],
        "manifest": (root / "corpus" / "maga" / "manifest.json").exists(),
        "decision": list(root.glob("runs/*/*/review/decision.json")),
    }  # fmt: skip
    seen["detail_after_refusal"] = airflow.request(
        "GET", f"/api/v2/dags/{REFRESH}/dagRuns/{quote(run_id)}{HITL}", token=airflow.token())[1]  # fmt: skip
    page.goto(review_page)
    page.wait_for(ready, 90, "the review, open again")
    link = ("Array.from(document.querySelectorAll('a')).find(a => "
            "a.innerText.includes('Data quality report of this run'))")  # fmt: skip
    seen["link"] = page.eval(f"{link}.href")
    remove = f"document.querySelector('[aria-label=\"Remove {key_b}\"]')"
    page.click(remove)
    page.wait_for(f"!{remove}", 15, f"{key_b} removed from the shards to publish")
    page.type_into("[name=element_comment]", "b: not for this mix")
    page.screenshot(artifacts / "review-screen.png")
    page.click(option)
    answered = time.monotonic()
    seen["request_to_answer_s"] = answered - asked
    deadline = answered + 600
    while not list(data.glob("a-*.parquet")) if data.exists() else True:
        assert time.monotonic() < deadline, f"nothing published: {log_of(airflow, run_id)}"
        time.sleep(0.5)
    seen["answer_to_published_s"] = time.monotonic() - answered
    page.goto(seen["link"])
    seen["report"] = read_report_tab(page, airflow)
    return seen
