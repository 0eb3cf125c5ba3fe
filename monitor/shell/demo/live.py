"""Sample stories that a demo feed publishes one at a time, to show new items flowing live."""

from __future__ import annotations

LIVE_STORIES: list[tuple[str, str]] = [
    ("Drone from across the frontier crashes in field in eastern Poland",
     "Soldiers cordoned off the site near the Belarusian border while investigators examined the wreckage."),
    ("Turnout passes 60% by mid-afternoon in Moldova's referendum",
     "The central electoral commission said queues were longest at polling stations abroad."),
    ("Border guards fire warning shots as boat crosses maritime line",
     "The navy said the vessel turned back after crossing into territorial waters off the northern coast."),
    # The story newsmon exists for: it must reach the sinks with both labels as soon as it is published.
    ("Anti-Putin rebels claim control of Russian border village amid elections",
     "Fighters who crossed from Ukraine say they have seized Gorkovsky in Russia's Belgorod region as Russians vote "
     "in the presidential election."),
    ("Opposition candidate concedes after count shows landslide",
     "Results from 98% of precincts gave the incumbent party a two-thirds majority in parliament."),
    ("Shells from across the river damage school in border town",
     "No pupils were hurt; the regional governor blamed artillery positioned on the neighbouring bank."),
    ("Heatwave pushes wheat prices to a three-month high",
     "Traders said dry weather across the plains had trimmed expected yields."),
    ("Fighter jets scrambled as bombers skirt national airspace",
     "The defence ministry said two aircraft briefly entered airspace over the islands before turning away."),
    ("Election observers detained at frontier crossing, mission says",
     "The monitors were held for six hours at the checkpoint before being refused entry ahead of Sunday's vote."),
]  # fmt: skip
