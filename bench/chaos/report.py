"""From what a run recorded to the figures, the checks against issue 9's bounds, and the table."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.chaos.database import Outcome
from bench.chaos.faults import Fault
from bench.chaos.load import Console, InboundRecord, ReplyRecord
from bench.chaos.supervisor import Exit

# Issue 9, "Recovers in seconds".
NEW_MESSAGE_BOUND_S = 5.0
WORK_REDONE_BOUND_S = 60.0


@dataclass
class Recorded:
    t0: float  # the load started
    load_stopped: float
    ended: float
    inbound: list[InboundRecord]
    replies: list[ReplyRecord]
    consoles: list[Console]
    expected: dict[str, tuple[list[int], bool]]  # console name -> (visible ids over its lifetime, complete)
    arrivals: dict[str, float]  # inbound token -> first time a console had it
    faults: list[Fault]
    sends: list[dict[str, Any]]  # what the fake Twilio accepted
    dropped_answers: list[str]
    callbacks: list[Any]
    outcome: Outcome
    exits: list[Exit]
    restarts: int
    notes: list[str] = field(default_factory=list)


def _summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "median": None, "max": None}
    return {"n": len(values), "median": round(statistics.median(values), 2), "max": round(max(values), 2)}


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(values)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"n": len(ordered), "p50": pick(0.50), "p90": pick(0.90), "p99": pick(0.99), "max": round(ordered[-1], 3)}


def analyse(rec: Recorded) -> dict[str, Any]:
    db = rec.outcome

    # --- inbound: every sid answered 200 is exactly one message; no sid is two -------------
    acked = [r for r in rec.inbound if r.acked]
    unanswered = Counter(str(r.attempts[-1].outcome) for r in rec.inbound if not r.acked and r.attempts)
    lost_in = [r.sid for r in acked if db.inbound_by_sid.get(r.sid, 0) == 0]
    doubled_in = sorted(sid for sid, n in db.inbound_by_sid.items() if n > 1)
    doubled_in += sorted(t for t, n in db.inbound_by_token.items() if n > 1 and t not in doubled_in)
    inbound: dict[str, Any] = {
        "webhooks": len(rec.inbound),
        "deliveries": sum(len(r.attempts) for r in rec.inbound),
        "redelivered": sum(1 for r in rec.inbound if r.redelivery),
        "acked": len(acked),
        "not_answered_200": dict(unanswered),
        "stored": sum(db.inbound_by_sid.values()),
        "lost": len(lost_in),
        "lost_sids": lost_in[:20],
        "doubled": len(doubled_in),
        "doubled_sids": doubled_in[:20],
        "journal": db.journal,
    }

    # --- replies: every reply answered 201 is one message; every client_id once ------------
    answered = [r for r in rec.replies if r.acked]
    lost_out = [r.client_id for r in answered if not db.replies.get(r.client_id)]
    doubled_out = sorted(c for c, rows in db.replies.items() if len(rows) > 1)
    doubled_out += sorted(t for t, n in db.replies_by_token.items() if n > 1)
    resends = [r for r in answered if r.resend is not None]
    resend_wrong = [
        r.client_id
        for r in resends
        if r.resend is not None and r.resend.outcome in (200, 201) and (r.resend.body or {}).get("id") != r.message_id
    ]
    # A reply that was stored but answered with an error: the client could not know it was kept.
    stored_5xx = [
        r.client_id
        for r in answered
        if any(isinstance(a.outcome, int) and a.outcome >= 500 for a in r.attempts) and r.attempts[-1].outcome == 200
    ]
    replies: dict[str, Any] = {
        "sent": len(rec.replies),
        "acked": len(answered),
        "not_acked": [r.client_id for r in rec.replies if not r.acked][:20],
        "not_acked_count": sum(1 for r in rec.replies if not r.acked),
        "attempt_outcomes": dict(Counter(str(a.outcome) for r in rec.replies for a in r.attempts)),
        "retried": sum(1 for r in rec.replies if len(r.attempts) > 1),
        "resent_on_purpose": len(resends),
        "resend_other_message": len(resend_wrong) + sum(1 for r in resends if r.resend and r.resend.outcome == 201),
        "lost": len(lost_out),
        "lost_client_ids": lost_out[:20],
        "doubled": len(doubled_out),
        "doubled_client_ids": doubled_out[:20],
        "stored_but_answered_5xx": len(stored_5xx),
        "stored_but_answered_5xx_ids": stored_5xx[:20],
    }

    # --- sends: the provider got each reply once ----------------------------------------------
    by_token = Counter(s["body"].split(" ", 1)[0] for s in rec.sends if s["body"].startswith("CHAOS-R"))
    doubled_sends = {t: n for t, n in by_token.items() if n > 1}
    answered_tokens = {r.token for r in answered}
    never_sent = sorted(answered_tokens - set(by_token))
    final_sid = {rows[0]["provider_id"]: rows[0] for rows in db.replies.values() if rows and rows[0]["provider_id"]}
    delivered_ok = {c.sid for c in rec.callbacks if c.status == "delivered" and c.outcome == 200}
    not_applied = [sid for sid in delivered_ok if sid in final_sid and final_sid[sid]["status"] != "delivered"]
    failed = Counter(rows[0]["error_code"] for rows in db.replies.values() if rows and rows[0]["status"] == "failed")
    sends: dict[str, Any] = {
        "accepted": sum(by_token.values()),
        "replies_sent": len(by_token),
        "doubled": len(doubled_sends),
        "extra_sends": sum(n - 1 for n in doubled_sends.values()),
        "doubled_tokens": sorted(doubled_sends)[:20],
        "lost_answers_injected": len(rec.dropped_answers),
        "never_sent": len(never_sent),
        "never_sent_tokens": never_sent[:20],
        "failed": dict(failed),
        "status_callbacks": dict(Counter(str(c.outcome) for c in rec.callbacks)),
        "statuses_not_applied": len(not_applied),
        # Refused outright (4xx: a signature or an account the desk does not take): a status lost
        # for good, whatever the faults (Twilio does not retry callbacks).
        "status_callbacks_refused": sum(1 for c in rec.callbacks if str(c.outcome).startswith("4")),
    }

    # --- consoles: every visible event over the console's lifetime reached it ----------------
    consoles: list[dict[str, Any]] = []
    for console in rec.consoles:
        ids, complete = rec.expected.get(console.name, ([], False))
        gaps = console.resyncs
        expected = [i for i in ids if not any(a < i <= b for a, b in gaps)]
        missing = [i for i in expected if i not in console.received]
        consoles.append(
            {
                "name": console.name,
                "mode": console.mode,
                "connections": len(console.connections),
                "failed_connects": console.failed_connects,
                "closed_by_server": sum(1 for c in console.connections if c.reason.startswith("closed")),
                "start_position": console.start_position,
                "end_position": console.end_position,
                "final_sync": console.end_position is not None,
                "expected_complete": complete,
                "received": len(console.received),
                "expected": len(expected),
                "missing": len(missing),
                "missing_ids": missing[:30],
                "resyncs": len(gaps),
                "out_of_order": console.out_of_order,
                "repeated_on_a_socket": console.repeated,
                "errors": console.errors,
            }
        )

    stuck: dict[str, int] = {
        "journal_pending": db.journal.get("pending", 0),
        "outbox_pending": db.outbox.get("pending", 0),
        "outbox_leased": db.outbox_leased,
        "outbox_overdue": db.outbox_overdue,
        "status_receipts_unapplied": db.receipts_unapplied,
    }

    # --- recovery, per fault ---------------------------------------------------------------
    sent_after = sorted((r.first_at, r.token) for r in rec.inbound if r.attempts and r.attempts[0].outcome == 200)
    latency = _percentiles([rec.arrivals[t] - at for at, t in sent_after if t in rec.arrivals])
    webhook_errors = sorted(a.at for r in rec.inbound for a in r.attempts if a.outcome != 200)
    reply_errors = sorted(
        a.at for r in rec.replies for a in r.attempts if not (isinstance(a.outcome, int) and a.outcome < 500)
    )
    faults: list[dict[str, Any]] = []
    for number, fault in enumerate(rec.faults):
        arrivals = [rec.arrivals[t] for at, t in sent_after if at >= fault.ended and t in rec.arrivals]
        new_message = round(min(arrivals) - fault.ended, 2) if arrivals else None
        redone = round(fault.work_done_at - fault.ended, 2) if fault.work_done_at is not None else None
        until = rec.faults[number + 1].started if number + 1 < len(rec.faults) else rec.load_stopped
        faults.append(
            {
                "index": fault.index,
                "kind": fault.kind,
                "target": fault.target,
                "at_s": round(fault.started - rec.t0, 1),
                "duration_s": round(fault.ended - fault.started, 2),
                "new_message_s": new_message,
                "work_redone_s": redone,
                "observed_for_s": round(rec.ended - fault.ended, 1),
                # until the next fault: webhooks not answered 200, replies answered 5xx or not at all
                "webhooks_not_200": sum(1 for at in webhook_errors if fault.started <= at < until),
                "replies_failed": sum(1 for at in reply_errors if fault.started <= at < until),
                "detail": fault.detail,
                "error": fault.error,
            }
        )
    by_kind: dict[str, Any] = {}
    for kind in dict.fromkeys(f["kind"] for f in faults):
        of_kind = [f for f in faults if f["kind"] == kind]
        by_kind[kind] = {
            "count": len(of_kind),
            "new_message_s": _summary([f["new_message_s"] for f in of_kind if f["new_message_s"] is not None]),
            "new_message_never": sum(1 for f in of_kind if f["new_message_s"] is None),
            "work_redone_s": _summary([f["work_redone_s"] for f in of_kind if f["work_redone_s"] is not None]),
            "work_not_redone": sum(1 for f in of_kind if f["work_redone_s"] is None),
        }
    new_values: list[float | None] = [f["new_message_s"] for f in faults]
    redone_values: list[float | None] = [f["work_redone_s"] for f in faults]
    recovery: dict[str, Any] = {
        "new_message_s": _summary([v for v in new_values if v is not None]),
        "new_message_over_bound": sum(1 for v in new_values if v is None or v > NEW_MESSAGE_BOUND_S),
        "work_redone_s": _summary([v for v in redone_values if v is not None]),
        "work_redone_over_bound": sum(1 for v in redone_values if v is None or v > WORK_REDONE_BOUND_S),
        "by_kind": by_kind,
        "webhook_to_console_s": latency,
    }

    exits = [
        {"name": e.name, "at_s": round(e.at - rec.t0, 1), "returncode": e.returncode, "log_tail": e.log_tail}
        for e in rec.exits
        if not e.expected
    ]
    processes = {"restarts": rec.restarts, "exited_on_their_own": len(exits), "exits": exits}

    def check(value: Any, target: str, met: bool) -> dict[str, Any]:
        return {"value": value, "target": target, "met": met}

    checks = {
        "inbound_lost": check(inbound["lost"], "0", inbound["lost"] == 0),
        "inbound_doubled": check(inbound["doubled"], "0", inbound["doubled"] == 0),
        "replies_lost": check(replies["lost"], "0", replies["lost"] == 0),
        "replies_doubled": check(
            replies["doubled"] + replies["resend_other_message"],
            "0",
            replies["doubled"] + replies["resend_other_message"] == 0,
        ),
        "replies_stored_but_answered_5xx": check(
            replies["stored_but_answered_5xx"], "0", replies["stored_but_answered_5xx"] == 0
        ),
        "sends_doubled": check(sends["doubled"], "0", sends["doubled"] == 0),
        "replies_never_sent": check(sends["never_sent"], "0", sends["never_sent"] == 0),
        "statuses_not_applied": check(sends["statuses_not_applied"], "0", sends["statuses_not_applied"] == 0),
        "status_callbacks_refused": check(
            sends["status_callbacks_refused"], "0", sends["status_callbacks_refused"] == 0
        ),
        "stuck_work": check(
            sum(stuck[k] for k in ("journal_pending", "outbox_pending", "status_receipts_unapplied")),
            "0",
            stuck["journal_pending"] + stuck["outbox_pending"] + stuck["status_receipts_unapplied"] == 0,
        ),
        "processes_exited_on_their_own": check(len(exits), "0", not exits),
    }
    for c in consoles:
        ok = c["missing"] == 0 and c["final_sync"] and c["expected_complete"]
        checks[f"events_missing_{c['name']}"] = check(c["missing"], "0 (and the final sync done)", ok)
    out_of_order = sum(c["out_of_order"] for c in consoles)
    checks["events_out_of_order"] = check(out_of_order, "0: no socket shows N+1 before N", out_of_order == 0)
    worst_new = max((v for v in new_values if v is not None), default=None)
    checks["new_message_after_fault_s"] = check(
        worst_new if None not in new_values else "never",
        f"<= {NEW_MESSAGE_BOUND_S:g} s after every fault",
        bool(faults) and recovery["new_message_over_bound"] == 0,
    )
    # A fault whose work was still pending at the end counts with how long it was watched ("> x").
    worst_redone = max(
        (f["work_redone_s"] if f["work_redone_s"] is not None else f["observed_for_s"] for f in faults), default=None
    )
    checks["work_redone_after_fault_s"] = check(
        worst_redone if None not in redone_values else f"> {worst_redone}",
        f"<= {WORK_REDONE_BOUND_S:g} s after every fault",
        bool(faults) and recovery["work_redone_over_bound"] == 0,
    )
    return {
        "inbound": inbound,
        "replies": replies,
        "sends": sends,
        "consoles": consoles,
        "stuck": stuck,
        "processes": processes,
        "faults": faults,
        "recovery": recovery,
        "checks": checks,
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def table(figures: dict[str, Any], header: list[str]) -> str:
    lines = ["", *header, ""]
    inbound, replies, sends = figures["inbound"], figures["replies"], figures["sends"]
    lines.append(
        f"  inbound   {inbound['webhooks']} webhooks ({inbound['redelivered']} redelivered), {inbound['acked']} "
        f"answered 200, not answered 200: {inbound['not_answered_200'] or 0}"
    )
    lines.append(f"            journal {inbound['journal']}")
    lines.append(
        f"  replies   {replies['sent']} sent, {replies['acked']} answered 201/200 "
        f"({replies['retried']} after retries, {replies['resent_on_purpose']} resent on purpose), "
        f"never answered: {replies['not_acked_count']}; outcomes {replies['attempt_outcomes']}"
    )
    lines.append(
        f"  sends     {sends['accepted']} accepted by the provider for {sends['replies_sent']} replies, "
        f"{sends['lost_answers_injected']} answers lost on purpose, failed {sends['failed'] or 0}; "
        f"status callbacks {sends['status_callbacks']}"
    )
    stuck = figures["stuck"]
    lines.append(
        f"  stuck     journal pending {stuck['journal_pending']}, outbox pending {stuck['outbox_pending']} "
        f"(leased {stuck['outbox_leased']}, overdue {stuck['outbox_overdue']}), "
        f"status receipts unapplied {stuck['status_receipts_unapplied']}"
    )
    lat = figures["recovery"]["webhook_to_console_s"]
    lines.append(
        f"  latency   webhook → first console p50 {_fmt(lat['p50'])} s, p90 {_fmt(lat['p90'])} s, "
        f"p99 {_fmt(lat['p99'])} s, max {_fmt(lat['max'])} s ({lat['n']} messages)"
    )
    procs = figures["processes"]
    lines.append(f"  processes {procs['restarts']} restarts, {procs['exited_on_their_own']} exited on their own")
    for e in procs["exits"]:
        last = e["log_tail"].strip().splitlines()[-1:] or [""]
        lines.append(f"            {e['name']} at {e['at_s']} s, exit {e['returncode']}: {last[0][:110]}")
    lines.append("")
    lines.append("  consoles  mode       connects  received  expected  missing  resyncs  out-of-order")
    for c in figures["consoles"]:
        lines.append(
            f"  {c['name']:<9} {c['mode']:<10} {c['connections']:>8}  {c['received']:>8}  {c['expected']:>8}  "
            f"{c['missing']:>7}  {c['resyncs']:>7}  {c['out_of_order']:>12}"
            + ("" if c["final_sync"] else "   (final sync not done)")
        )
    lines.append("")
    lines.append("  recovery by fault kind (s)      count   new message: median / max   work redone: median / max")
    for kind, k in figures["recovery"]["by_kind"].items():
        new, redone = k["new_message_s"], k["work_redone_s"]
        never = f" ({k['new_message_never']} never)" if k["new_message_never"] else ""
        not_redone = f" ({k['work_not_redone']} not by the end)" if k["work_not_redone"] else ""
        lines.append(
            f"  {kind:<30} {k['count']:>6}   {_fmt(new['median']):>11} / {_fmt(new['max']):<8}{never:<10}"
            f"   {_fmt(redone['median']):>8} / {_fmt(redone['max'])}{not_redone}"
        )
    lines.append("")
    lines.append(f"  {'check':<40} {'value':>10}   target")
    for name, c in figures["checks"].items():
        verdict = "ok" if c["met"] else "FAILED"
        lines.append(f"  {name:<40} {_fmt(c['value']):>10}   {c['target']:<32} {verdict}")
    lines.append("")
    return "\n".join(lines)


def fault_lines(figures: dict[str, Any]) -> str:
    lines = [
        "  #    at s  fault                     target     took s  new msg s  work redone s  webhooks !200  replies 5xx"
    ]
    for f in figures["faults"]:
        redone = _fmt(f["work_redone_s"]) if f["work_redone_s"] is not None else f"> {f['observed_for_s']}"
        lines.append(
            f"  {f['index']:<4}{f['at_s']:>6}  {f['kind']:<25} {f['target']:<9} {f['duration_s']:>7.2f}"
            f"  {_fmt(f['new_message_s']):>9}  {redone:>13}  {f['webhooks_not_200']:>13}  {f['replies_failed']:>11}"
            + (f"  ERROR {f['error']}" if f["error"] else "")
        )
    return "\n".join(lines)
