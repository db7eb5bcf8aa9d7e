"""The chain: rules in order, built from config; the first hit decides. Pure: screen() does no I/O."""
from __future__ import annotations

from dataclasses import dataclass, replace

from inboxbot.config import Settings
from inboxbot.model import Decision, Invitation, RuleResult, Verdict
from inboxbot.policy.contacts import ContactBook, load_contacts
from inboxbot.policy.rules import RULES, Context, Rule, assess, authenticity, vouched_address

DOUBTFUL = "doubtful"  # files for review (its decision's folder) and never drafts, whatever the config says


@dataclass(frozen=True)
class Step:
    rule: Rule
    decision: Decision
    template: str | None


@dataclass(frozen=True)
class Chain:
    steps: tuple[Step, ...]
    context: Context

    def screen(self, inv: Invitation) -> Verdict:
        results: list[RuleResult] = []
        for step in self.steps:
            check = step.rule.check(inv, self.context)
            results.append(RuleResult(step.rule.name, check.hit, check.reason))
            if check.hit:
                template = check.template if check.template and step.template else step.template
                reading = check.reading
                recipient = vouched_address(inv, self.context.trusted_authserv_ids, self.context.require_dkim) \
                    if template else None
                return Verdict(step.decision, template, (f"{step.rule.name}: {check.reason}",), tuple(results),
                               check.matched, quote=reading.quote if reading else None,
                               confidence=reading.confidence if reading else None,
                               facets=reading.facets if reading else (), recipient=recipient)
        # only reachable when the user switched `stranger` off: leave the message alone rather than guess
        return Verdict(Decision.IGNORE, None, ("no rule decided; the message is left alone",), tuple(results))

    def with_known(self, extra: ContactBook, blocked: ContactBook | None = None) -> "Chain":
        """The same chain, knowing more people (the Sent-folder index, what the user taught it) and blocking more."""
        if not len(extra) and not (blocked and len(blocked)):
            return self
        more_blocked = self.context.blocked.merged(blocked) if blocked else self.context.blocked
        return replace(self, context=replace(self.context, known=self.context.known.merged(extra),
                                             blocked=more_blocked))

    def authentic(self, inv: Invitation) -> bool | None:
        if inv.evidence.claimed is None:
            return None
        return assess(inv.evidence, self.context.trusted_authserv_ids, self.context.require_dkim)[0]

    def authenticity(self, inv: Invitation) -> str | None:
        """"verified", "unverified" (nobody checked a signature) or "failed"; None for mail that claims no network."""
        if inv.evidence.claimed is None:
            return None
        return authenticity(inv.evidence, self.context.trusted_authserv_ids, self.context.require_dkim)[0]


def build_chain(settings: Settings) -> Chain:
    """Order, switches and decisions from config; contact files read once here (not per message)."""
    policy = settings.policy
    known = load_contacts([settings.path(p) for p in policy.contacts], policy.allow, "policy.allow")
    blocked = load_contacts([], policy.block, "policy.block")
    order = list(policy.chain)
    if DOUBTFUL not in order:  # a chain written before the rule existed still gets it (switch it off by name)
        order.insert(max((order.index(r) + 1 for r in ("forged", "not-an-invitation") if r in order), default=0),
                     DOUBTFUL)
    if policy.pitch_beats_recruiter and "recruiter" in order and "sales-pitch" in order:
        i, j = order.index("recruiter"), order.index("sales-pitch")
        if i < j:
            order[i], order[j] = order[j], order[i]
    steps = []
    for name in order:
        rule = RULES[name]
        override = settings.rules.get(name)
        if override is not None and not override.enabled:
            continue
        decision = rule.decision
        if name == "collector":
            decision = Decision(policy.collectors)
        if override is not None and override.decision:
            decision = Decision(override.decision)
        template = (override.template if override is not None and override.template else None) or rule.template
        if name == DOUBTFUL:
            template = None  # never a reply built on a field the parser doubts
        elif decision in (Decision.ASK, Decision.FEEDBACK):
            template = template or ("feedback" if decision is Decision.FEEDBACK else "where_did_we_meet")
        else:
            template = None
        steps.append(Step(rule, decision, template))
    context = Context(known=known, blocked=blocked,
                      trusted_authserv_ids=tuple(settings.security.trusted_authserv_ids),
                      require_dkim=settings.security.require_dkim, accept_recruiters=policy.accept_recruiters)
    return Chain(tuple(steps), context)
