"""Apache Airflow provider for gating pipelines on vendor export jobs."""

__version__ = "0.1.0"
