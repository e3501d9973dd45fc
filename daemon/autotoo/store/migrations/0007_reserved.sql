-- autotoo state, schema 7: RESERVED. Two other branches add their migrations 7 and 8
-- at the same time as issue 22's leases (9); this placeholder keeps the numbers contiguous
-- on this branch and is deleted when those branches are merged.
SELECT 1;
