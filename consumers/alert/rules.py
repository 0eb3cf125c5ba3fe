"""The rules file (`config/rules.yaml`): which stories alert, where and how often; validated once at start-up.

Every mistake is reported with the file, the line and the reason, and stops the process with exit code 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import pycountry
import re2
from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag

from consumers.deliver.sinks.config import DEFAULT_LIMITS, AnySinkSpec, SinkSpec
from monitor import config_file
from monitor.messages import LABELS, ClassifiedItem, LabelName

_NAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"
# Kosovo has a user-assigned code that gazetteers use but ISO 3166-1 does not list.
_EXTRA_COUNTRIES = {"XK"}


# Characters that continue a word (Unicode letters, digits, marks, underscore): a keyword must not touch them.
_WORD = r"\pL\pN\pM_"


class Regex(Protocol):
    """What the rules need of a compiled pattern."""

    def search(self, text: str) -> object: ...


def _compile(pattern: str) -> Regex:
    """A case-insensitive pattern in RE2, whose matching time is linear in the text: story text is untrusted."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # the error is reported with the file and line instead
    compiled: Regex = re2.compile(pattern, options)
    return compiled


def _pattern(v: str) -> str:
    if not v.strip() or v.strip() == "re:":
        raise ValueError("empty keyword")
    if v.startswith("re:"):
        try:
            _compile(v[3:])
        except re2.error as exc:
            why = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
            raise ValueError(
                f"bad regular expression {v[3:]!r}: {why} (rules use RE2, which runs in linear time "
                "and has no backreferences or lookaround)"
            ) from exc
    return v


def _country(v: str) -> str:
    code = v.strip().upper()
    if code not in _EXTRA_COUNTRIES and (len(code) != 2 or pycountry.countries.get(alpha_2=code) is None):
        raise ValueError(f"unknown country {v!r} (ISO 3166-1 alpha-2 codes, e.g. UA)")
    return code


def _language(v: str) -> str:
    code = v.strip().lower()
    if len(code) != 2 or pycountry.languages.get(alpha_2=code) is None:
        raise ValueError(f"unknown language {v!r} (ISO 639-1 codes, e.g. en)")
    return code


Pattern = Annotated[str, AfterValidator(_pattern)]
Country = Annotated[str, AfterValidator(_country)]
Language = Annotated[str, AfterValidator(_language)]
Score = Annotated[float, Field(ge=0, le=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Model):
    """At most `max` immediate alerts per `per_minutes`; the overflow goes into a digest every few minutes."""

    max: int = Field(ge=1, le=100000)
    per_minutes: float = Field(gt=0, le=10080)
    overflow_digest_minutes: float = Field(10.0, gt=0, le=1440)


def _labels_form(v: Any) -> str:
    return "names" if isinstance(v, list | tuple) else "floors"


# `[cross_border_incident]`: the model put that label on the story; `{cross_border_incident: 0.6}`: a score floor.
Labels = Annotated[
    Annotated[dict[LabelName, Score], Tag("floors")] | Annotated[list[LabelName], Tag("names")],
    Discriminator(_labels_form),
    Field(min_length=1),
]


class RuleSpec(_Model):
    id: str = Field(pattern=_NAME)
    name: str = ""
    description: str = ""
    enabled: bool = True
    labels: Labels
    match: Literal["any", "all"] = "any"
    include: list[Pattern] = Field(default_factory=list)
    exclude: list[Pattern] = Field(default_factory=list)
    countries: list[Country] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    languages: list[Language] = Field(default_factory=list)
    sinks: list[str] | None = None
    include_backfill: bool = False
    digest_minutes: float | None = Field(None, gt=0, le=1440)
    rate_limit: RateLimit | None = None


class Defaults(_Model):
    sinks: list[str] = Field(default_factory=list)


class RulesFile(_Model):
    version: Literal[1] = 1
    defaults: Defaults = Defaults()
    fallback_sink: str = ""
    sinks: dict[Annotated[str, Field(pattern=_NAME)], SinkSpec] = Field(default_factory=dict)
    rules: list[RuleSpec] = Field(default_factory=list)


def _term_regex(term: str) -> Regex:
    if term.startswith("re:"):
        return _compile(term[3:])
    # A keyword matches as a whole word or phrase, in any case; RE2 has no lookaround, so the edges are matched.
    return _compile(rf"(?:^|[^{_WORD}]){re2.escape(term.strip())}(?:$|[^{_WORD}])")


@dataclass(frozen=True)
class Rule:
    """One validated rule, with its patterns compiled and its sinks resolved."""

    spec: RuleSpec
    sinks: tuple[str, ...]
    include: tuple[tuple[str, Regex], ...]
    exclude: tuple[tuple[str, Regex], ...]

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def name(self) -> str:
        return self.spec.name or self.spec.id

    @property
    def digest_s(self) -> float:
        return (self.spec.digest_minutes or 0.0) * 60.0

    def _label_hits(self, c: ClassifiedItem) -> list[str]:
        """The rule's labels the story carries: the model's own labels, or scores at or above the floors."""
        labels = self.spec.labels
        if isinstance(labels, list):
            return [f"label {x} ({c.scores.get(x, 0.0):.2f})" for x in labels if x in c.labels]
        return [
            f"{label} {c.scores.get(label, 0.0):.2f} >= {floor:.2f}"
            for label, floor in labels.items()
            if c.scores.get(label, 0.0) >= floor
        ]

    def match(self, c: ClassifiedItem) -> list[str] | None:
        """The reasons this rule fires for the item, or None when it does not."""
        s = self.spec
        if c.item.backfill and not s.include_backfill:
            return None
        hits = self._label_hits(c)
        if not hits or (s.match == "all" and len(hits) < len(s.labels)):
            return None
        reasons = hits
        text = f"{c.item.title}\n{c.item.summary}"
        if self.include:
            found = [term for term, rx in self.include if rx.search(text)]
            if not found:
                return None
            reasons.append("keyword " + ", ".join(found))
        if any(rx.search(text) for _, rx in self.exclude):
            return None
        if s.countries:
            codes = sorted({p.code.upper() for p in c.places} & set(s.countries))
            if not codes:
                return None
            reasons.append("country " + ", ".join(codes))
        if s.sources:
            wanted = {x.casefold() for x in s.sources}
            if c.item.source.casefold() not in wanted and c.item.feed_id.casefold() not in wanted:
                return None
            reasons.append(f"source {c.item.source or c.item.feed_id}")
        if s.languages:
            if c.item.lang.lower() not in s.languages:
                return None
            reasons.append(f"language {c.item.lang.lower()}")
        return reasons


@dataclass(frozen=True)
class RuleSet:
    path: Path
    rules: tuple[Rule, ...]
    sinks: dict[str, AnySinkSpec]
    fallback_sink: str

    def matches(self, c: ClassifiedItem) -> list[tuple[Rule, list[str]]]:
        out = []
        for rule in self.rules:
            if rule.spec.enabled and (reasons := rule.match(c)) is not None:
                out.append((rule, reasons))
        return out


# --- loading with line numbers -------------------------------------------------------------------------------


def _strip_tag(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # Errors inside a sink name the union member (its `type`) after the sink name; the file has no such level.
    if len(loc) > 2 and loc[0] == "sinks" and loc[2] in DEFAULT_LIMITS:
        return (*loc[:2], *loc[3:])
    # Likewise the two forms of a rule's `labels`.
    if len(loc) > 3 and loc[0] == "rules" and loc[2] == "labels" and loc[3] in ("floors", "names"):
        return (*loc[:3], *loc[4:])
    return loc


def _message(err: dict[str, Any]) -> str:
    loc = err["loc"]
    if err["type"] == "literal_error" and "labels" in loc:
        return f"unknown label {err['input']!r} (known: {', '.join(LABELS)})"
    if err["type"] == "dict_type" and loc[-2:] == ("labels", "floors"):
        return "give a list of labels ([election]) or minimum scores ({election: 0.5})"
    return config_file.message(err)


def _references(data: RulesFile) -> list[tuple[tuple[Any, ...], str]]:
    errors: list[tuple[tuple[Any, ...], str]] = []
    known = sorted(data.sinks)

    def check(loc: tuple[Any, ...], name: str) -> None:
        if name not in data.sinks:
            errors.append((loc, f"unknown sink {name!r} (defined: {', '.join(known) or 'none'})"))

    for i, name in enumerate(data.defaults.sinks):
        check(("defaults", "sinks", i), name)
    if data.fallback_sink:
        check(("fallback_sink",), data.fallback_sink)
    seen: set[str] = set()
    for i, rule in enumerate(data.rules):
        if rule.id in seen:
            errors.append((("rules", i, "id"), f"rule id {rule.id!r} appears twice"))
        seen.add(rule.id)
        for j, name in enumerate(rule.sinks or []):
            check(("rules", i, "sinks", j), name)
        if not (rule.sinks if rule.sinks is not None else data.defaults.sinks) and not data.fallback_sink:
            errors.append((("rules", i), "no sinks: give the rule sinks, or set defaults.sinks or fallback_sink"))
    return errors


def parse_rules(text: str, path: Path) -> RuleSet:
    """Validate a rules document; raise ConfigError listing every problem as `file:line: where: reason`."""
    doc = config_file.parse(text, str(path), "rules file")
    wording = config_file.Wording(tidy=_strip_tag, explain=_message)
    data = config_file.validate(doc, RulesFile, "rules file", wording=wording, check=_references)
    rules = tuple(
        Rule(
            spec=r,
            sinks=tuple(r.sinks if r.sinks is not None else data.defaults.sinks) or (data.fallback_sink,),
            include=tuple((t, _term_regex(t)) for t in r.include),
            exclude=tuple((t, _term_regex(t)) for t in r.exclude),
        )
        for r in data.rules
    )
    return RuleSet(path=path, rules=rules, sinks=dict(data.sinks), fallback_sink=data.fallback_sink)


def load_rules(path: Path) -> RuleSet:
    """Read and validate the rules file; raise ConfigError with the file, line and reason."""
    text = config_file.read_text(path, "rules file", " (setting alerts.rules_file)")
    return parse_rules(text, path)
