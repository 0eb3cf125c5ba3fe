"""One adapter per feed format, each turning a document into the one typed `ParsedFeed` of `entry`."""
