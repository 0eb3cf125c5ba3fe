"""The `deliver` stage: alerts sent to their sinks, each attempt recorded, what cannot be delivered dead-lettered."""
