"""Browser tests of the Connections UI (real Airflow api-server, headless Chromium, vendor emulators)."""
