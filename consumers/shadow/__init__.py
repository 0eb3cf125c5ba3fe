"""The shadow stage: rules and a model tried on the live stream, recorded to news.shadow and never delivered."""
