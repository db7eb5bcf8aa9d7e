"""`inboxbot status`: what the ledger says each account has been doing. Reads only the state database."""
from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime

from inboxbot import answers, instance
from inboxbot.config import Settings
from inboxbot.errors import StateError
from inboxbot.store import DISCARDED, DONE, ERROR, REMOVED, SENT, Ledger

HEALTHY_INTERVALS = 3
ANSWERS_SHOWN_DAYS = 14  # answers received this recently are listed


def iso_time(ts: float | None) -> str | None:
    """A time as ISO 8601 in the local zone, to the second (None stays None)."""
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds") if ts else None


def draft_outcomes(ledger: Ledger, account: str, since: float = 0.0) -> dict[str, dict[str, int | float | None]]:
    """Per template: drafts made (since `since`), and how many are waiting, were sent or discarded by the user,
    or were removed without a way to tell (paste-in drafts); `acceptance` is sent / (sent + discarded)."""
    out: dict[str, dict] = {}
    for row in ledger.rows("SELECT template, draft_fate, COUNT(*) FROM messages WHERE account=? AND reply='draft' "
                           "AND draft_message_id IS NOT NULL AND first_seen >= ? GROUP BY template, draft_fate",
                           account, since):
        entry = out.setdefault(row[0] or "-", {"made": 0, "waiting": 0, SENT: 0, DISCARDED: 0, REMOVED: 0})
        entry["made"] += row[2]
        entry[row[1] or "waiting"] += row[2]
    for entry in out.values():
        judged = entry[SENT] + entry[DISCARDED]
        entry["acceptance"] = round(entry[SENT] / judged, 3) if judged else None
    return out


def account_status(settings: Settings, account: Settings) -> dict:
    name = account.account.name
    path = settings.path(settings.state.database)
    out: dict = {"account": name, "last_pass": None, "last_success": None, "last_error": None, "next_pass": None,
                 "failed_messages": 0, "filed_for_review_7d": 0, "drafts_today": 0, "sent_today": 0,
                 "drafts_by_template": {}, "learned": {"contact": 0, "block": 0}, "answers": [], "pending": 0,
                 "healthy": False, "unfiled_last_time": 0,
                 "review_folders": [account.folders.screening, account.folders.suspicious],
                 "replies_mode": account.replies.mode}
    if not path.exists():
        out["last_error"] = {"message": "no pass has run yet (the state database does not exist)", "at": None}
        return out
    try:
        ledger = Ledger(path)
    except StateError as exc:
        out["last_error"] = {"message": f"{exc} ({exc.hint})", "at": None}
        return out
    try:
        # a pass over several source folders is recorded per folder: the last of each make the last pass
        rows = list(ledger.rows("SELECT * FROM passes WHERE account=? AND finished IS NOT NULL ORDER BY id DESC "
                                "LIMIT ?", name, len(account.folders.sources)))
        if rows:
            decisions: Counter = Counter()
            for row in rows:
                decisions.update(json.loads(row["counts"] or "{}"))
            out["last_pass"] = {"started": iso_time(rows[-1]["started"]),
                                "seconds": round(rows[0]["finished"] - rows[-1]["started"], 3),
                                "decisions": dict(decisions),
                                "error": next((row["error"] for row in rows if row["error"]), None)}
        status = next(ledger.rows("SELECT * FROM account_status WHERE account=?", name), None)
        # a pass of `once` and one of the daemon both count: whichever succeeded last
        last_ok = next(ledger.rows("SELECT max(finished) FROM passes WHERE account=? AND error IS NULL AND finished "
                                   "IS NOT NULL", name))[0]
        failing = False
        if status is not None:
            last_ok = max(filter(None, (last_ok, status["last_success"])), default=None)
            next_run = status["next_run"]
            # a daemon that was killed could not say it stopped: a next pass long overdue is no promise
            if next_run is not None and next_run >= time.time() - account.schedule.interval:
                out["next_pass"] = iso_time(next_run)
            if status["last_error"] and (status["last_error_at"] or 0) >= (last_ok or 0):
                failing = True
                out["last_error"] = {"message": status["last_error"], "at": iso_time(status["last_error_at"]),
                                     "failures_in_a_row": status["failures"]}
        out["last_success"] = iso_time(last_ok)
        midnight = time.mktime(time.localtime()[:3] + (0, 0, 0, 0, 0, -1))

        def count(sql: str, *args: object) -> int:
            return next(ledger.rows(sql, name, *args))[0]
        out["failed_messages"] = count("SELECT COUNT(*) FROM messages WHERE account=? AND state=?", ERROR)
        # what was moved there (`location` is set when the move succeeded), not what was decided
        out["filed_for_review_7d"] = count("SELECT COUNT(*) FROM messages WHERE account=? AND decision IN "
                                           "('ask', 'feedback', 'quarantine') AND state=? AND location IS NOT NULL "
                                           "AND updated >= ?", DONE, time.time() - 7 * 86400)
        out["drafts_today"] = count("SELECT COUNT(*) FROM messages WHERE account=? AND reply='draft' AND updated >= ?",
                                    midnight)
        out["sent_today"] = count("SELECT COUNT(*) FROM messages WHERE account=? AND reply='sent' AND updated >= ?",
                                  midnight)
        out["drafts_by_template"] = draft_outcomes(ledger, name)
        for row in ledger.rows("SELECT action, COUNT(*) FROM learned WHERE account=? GROUP BY action", name):
            out["learned"][row[0]] = row[1]
        out["answers"] = [{"inviter": r["sender"], "via": r["via"], "intent": r["intent"], "summary": r["summary"],
                           "advice": r["advice"], "folder": r["filed_to"], "at": iso_time(r["received"]),
                           "line": answers.answer_line(r)}
                          for r in ledger.answers_since(name, time.time() - ANSWERS_SHOWN_DAYS * 86400)]
        folders = account.folders.values
        out["pending"] = len(answers.pending(ledger, name, {folders["accept"], folders["declined"]}))
        # a server that cannot move mail safely: what the last pass with new mail left unfiled
        decided = next(ledger.rows("SELECT counts FROM passes WHERE account=? AND finished IS NOT NULL AND counts "
                                   "NOT IN ('{}', 'null') ORDER BY id DESC LIMIT 1", name), None)
        out["unfiled_last_time"] = json.loads(decided["counts"]).get("unfiled", 0) if decided else 0
        if failing:
            out["unhealthy_because"] = "the last attempt failed"
        elif not last_ok or time.time() - last_ok > HEALTHY_INTERVALS * account.schedule.interval:
            out["unhealthy_because"] = f"no successful pass in {HEALTHY_INTERVALS} intervals"
        elif out["unfiled_last_time"]:
            out["unhealthy_because"] = "the last pass left mail unfiled (the server cannot move mail safely)"
        out["healthy"] = "unhealthy_because" not in out
    finally:
        ledger.close()
    noted = ((instance.holder(path) or {}).get("errors") or {}).get(name)  # what the ledger could not take
    if noted and noted["at"] > (last_ok or 0):
        out["last_error"] = {"message": noted["message"], "at": iso_time(noted["at"])}
        out["unhealthy_because"] = "the state database could not take the last pass"
        out["healthy"] = False
    return out


def render(statuses: list[dict]) -> str:
    lines = []
    for s in statuses:
        lines.append(f"{s['account']}: " + ("healthy" if s["healthy"] else
                                            f"NOT healthy ({s.get('unhealthy_because', 'no pass yet')})"))
        last = s["last_pass"]
        if last:
            decisions = ", ".join(f"{v} {k}" for k, v in sorted(last["decisions"].items())) or "nothing new"
            lines.append(f"  last pass:     {last['started']} ({last['seconds']} s): {decisions}"
                         + (f" — failed: {last['error']}" if last["error"] else ""))
        else:
            lines.append("  last pass:     none yet")
        lines.append(f"  last success:  {s['last_success'] or 'never'}")
        if s["unfiled_last_time"]:
            lines.append(f"  NOT FILING:    the server cannot move mail safely (no MOVE, no UIDPLUS): "
                         f"{s['unfiled_last_time']} message(s) of the last pass with new mail stay in the inbox; "
                         "see account.copy_without_move")
        if s["last_error"]:
            lines.append(f"  last error:    {s['last_error']['message']}" +
                         (f" ({s['last_error']['at']})" if s["last_error"].get("at") else ""))
        lines.append(f"  next pass:     {s['next_pass'] or 'none (no `inboxbot run` is running)'}")
        lines.append(f"  for review:    {s['filed_for_review_7d']} moved to {' or '.join(s['review_folders'])} in "
                     f"7 days; {s['failed_messages']} message(s) failed")
        sent = (f", {s['sent_today']} sent by inboxbot" if s["sent_today"] or s["replies_mode"] == "send" else "")
        lines.append(f"  today:         {s['drafts_today']} draft(s) made{sent}")
        for template, d in sorted(s["drafts_by_template"].items()):
            rate = f"{d['acceptance']:.0%} sent" if d["acceptance"] is not None else "no outcome yet"
            lines.append(f"  drafts {template + ':':<19} {d['made']} made: {d['waiting']} waiting, {d[SENT]} sent by you, "
                         f"{d[DISCARDED]} discarded" + (f", {d[REMOVED]} removed" if d[REMOVED] else "") + f" ({rate})")
        for answer in s.get("answers", ()):
            lines.append(f"  answered:      {answer['line']}")
        if s.get("pending"):
            lines.append(f"  waiting:       {s['pending']} invitation(s) asked and not answered (see `inboxbot pending`)")
        learned = s["learned"]
        if learned["contact"] or learned["block"]:
            lines.append(f"  learned:       {learned['contact']} contact(s), {learned['block']} blocked "
                         "(see `inboxbot contacts`)")
    return "\n".join(lines)
