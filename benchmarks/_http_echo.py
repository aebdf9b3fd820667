"""The floor for a JSON API on this machine: a bare FastAPI + pydantic app that parses a JSON
action and answers JSON, under uvicorn (one worker, access log off), as `signoff serve` runs.

Copied from the reference echo (shared/anchors/http_echo.py, its FastAPI flavour) so that a
fresh clone can run bench_http.py. Run: python benchmarks/_http_echo.py PORT
"""

import sys
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel


class Action(BaseModel):
    name: str
    args: dict[str, Any] = {}
    confidence: float = 1.0
    reasoning: str = ""


app = FastAPI()


@app.post("/api/v1/tickets", status_code=201)
async def submit(a: Action) -> dict[str, Any]:
    return {"id": "t-1", "status": "pending", "action": a.name}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
