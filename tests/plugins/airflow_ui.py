"""The Airflow 3.3 UI as a person uses it, over ``browser.Page``: log in, open a DAG's
Trigger form, read a run's report tab. Shared by the browser tests and
``scripts/airflow_demo_timing.py --form``, so a change in the UI's markup is mended once.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import unquote

from tests.plugins.browser import BrowserError

SUBMIT = "document.querySelector('[data-testid=trigger-dag-submit]')"


class TabNotLoaded(BrowserError):
    """The tab's frame never reached one of the expected titles."""


def login(page: Any, base: str, password: str, user: str = "admin") -> None:
    page.goto(f"{base}/")
    page.wait_for("!!document.querySelector('input[name=username]')", 90, "login form")
    page.type_into("input[name=username]", user)
    page.type_into("input[name=password]", password)
    page.click("document.querySelector('button[type=submit]')")
    page.wait_for("!location.pathname.startsWith('/auth/login')", 60, "login")


def open_trigger_form(page: Any, base: str, dag_id: str) -> None:
    """The DAG's page, its Trigger button, the form with its Run Parameters loaded."""
    page.goto(f"{base}/dags/{dag_id}")
    button = "document.querySelector('[data-testid=trigger-dag-button]')"
    page.wait_for(f"!!{button}", 90, f"{dag_id}'s Trigger button")
    page.click(button)
    page.wait_for(f"!!{SUBMIT} && !!document.querySelector('[name=element_profile]')", 60,
                  "the Trigger form with its Run Parameters")  # fmt: skip


def submit(page: Any, dag_id: str) -> str:
    """Press the form's Trigger button; the UI moves to the new run's page: its run id."""
    page.click(SUBMIT)
    path = page.wait_for(f"location.pathname.startsWith('/dags/{dag_id}/runs/') && "
                         "location.pathname", 180, "the new run's page")  # fmt: skip
    return unquote(path.rsplit("/runs/", 1)[1].split("/")[0])


def read_tab(page: Any, label: str, src: str, titles: tuple[str, ...], timeout: float) -> str:
    """On a run's page: click the tab ``label``, wait for its iframe (URL holding ``src``)
    to show a title starting with one of ``titles``; its text. TabNotLoaded after
    ``timeout`` seconds."""
    tab = ("Array.from(document.querySelectorAll('a')).find(e => e.innerText.trim() === "
           f"{json.dumps(label)})")  # fmt: skip
    page.wait_for(f"!!{tab}", 90, f"the run's {label!r} tab")
    page.click(tab)
    page.wait_for(f"!!document.querySelector('iframe[src*={json.dumps(src)}]')", 30, "iframe")
    deadline = time.monotonic() + timeout
    while True:
        try:
            frame = page.frame_context(src)
            if page.eval("document.title", frame).startswith(titles):
                return page.eval("document.body.innerText", frame)
        except Exception:  # the frame is still loading  # noqa: BLE001
            pass
        if time.monotonic() > deadline:
            raise TabNotLoaded(f"the {label!r} tab never loaded in {timeout:.0f}s")
        time.sleep(1)
