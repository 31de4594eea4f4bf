-- The boot an owner ran in (the kernel's boot id, as UUID text): after a reboot the same
-- pid and start time are another process. NULL for entries written before boots were
-- recorded: an unknown boot, so their owner is never taken for alive.
ALTER TABLE faults ADD COLUMN owner_boot TEXT;
