"""Drives clickhouse-connect (and pandas) the way an analyst does, for the analyst tests.

Usage: connect_probe.py '<plan JSON>'
  plan: {"host", "port", "username"?, "password"?, "database"?, "steps": [step, ...]}
  step: {"op": "query_df" | "query" | "command", "sql", "settings"?, "limit"?}
      | {"op": "poll", "sql", "at_least", "timeout_s"}   repeats a one-value query until it reaches at_least
Prints one JSON line per step: {"ok": true, ...} or {"ok": false, "error", "code"}.
"""
import json
import sys
import time

import clickhouse_connect


def main() -> None:
    plan = json.loads(sys.argv[1])
    connect = {k: plan[k] for k in ("username", "password", "database") if k in plan}
    try:
        client = clickhouse_connect.get_client(host=plan["host"], port=plan["port"], **connect)
    except Exception as e:  # noqa: BLE001 - the test asserts on the message
        print(json.dumps({"ok": False, "step": "connect", "error": str(e), "code": getattr(e, "code", None)}))
        return
    print(json.dumps({"ok": True, "step": "connect", "server_version": client.server_version}))
    for step in plan["steps"]:
        try:
            print(json.dumps({"ok": True, **run(client, step)}, default=str))
        except Exception as e:  # noqa: BLE001
            print(json.dumps({"ok": False, "error": str(e), "code": getattr(e, "code", None)}))
        sys.stdout.flush()


def run(client, step):
    op, sql, limit = step["op"], step.get("sql", ""), step.get("limit", 5)
    settings = step.get("settings")
    if op == "query_df":
        df = client.query_df(sql, settings=settings)
        return {
            "columns": [str(c) for c in df.columns],
            "dtypes": [str(t) for t in df.dtypes],
            "len": len(df),
            "rows": json.loads(df.head(limit).to_json(orient="records", date_format="iso")),
        }
    if op == "query":
        r = client.query(sql, settings=settings)
        return {"columns": list(r.column_names), "types": [t.name for t in r.column_types], "len": len(r.result_rows), "rows": r.result_rows[:limit]}
    if op == "command":
        return {"result": client.command(sql)}
    if op == "poll":
        seen, deadline = [], time.monotonic() + step["timeout_s"]
        while True:
            value = int(client.query(sql).result_rows[0][0])
            seen.append(value)
            if value >= step["at_least"] or time.monotonic() > deadline:
                return {"seen": seen}
            time.sleep(0.2)
    raise ValueError(f"unknown op {op}")


if __name__ == "__main__":
    main()
