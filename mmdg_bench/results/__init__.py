"""Results only read run folders: collect them into a tidy table, then render leaderboards."""
