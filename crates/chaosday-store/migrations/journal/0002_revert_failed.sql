-- A failed revert is live: `revert_failed` faults are retried until they are reverted or a
-- person forgets them (`forgotten`). The partial index of live faults takes the new state.
DROP INDEX faults_live;
CREATE INDEX faults_live ON faults (state) WHERE state IN ('injecting', 'active', 'reverting', 'revert_failed');
