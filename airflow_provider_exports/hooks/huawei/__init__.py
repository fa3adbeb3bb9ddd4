"""Huawei Cloud: the DataArts Studio (:mod:`.dataarts`) and Workspace (:mod:`.workspace`) hooks.

:mod:`.auth` reads the connection and authenticates (IAM token or AK/SK) and reads error bodies,
:mod:`.signing` is the AK/SK request signer, :mod:`.base` the hook base class both services
share. Checking a signature (what the gateway does) is the emulator's job:
:mod:`airflow_provider_exports.testing.huawei_signing`.
"""
