SELECT lsm_version();
