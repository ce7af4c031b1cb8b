"""Where cases come from. Each source module reads its own rows (never writing them) and says
what it sees as `Sighting`s, and which of its past occurrences have lost their cause."""
