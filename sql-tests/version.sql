SELECT lsm_version();
SELECT typeof(lsm_version());
