# The pipeline image: the project installed into /app, RunAll as the default command.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md luigi.cfg luigid.cfg ./
COPY pipeline ./pipeline
COPY dbt ./dbt
# pip installs the dependencies; the code runs from /app, where the dbt projects sit beside it (the
# pipeline finds them next to its own package, which a copy in site-packages would not have).
RUN pip install .
ENV PYTHONPATH=/app

# Outputs (lake, warehouse, reports) go to a volume; the DSN and the source come from the environment.
ENV PIPELINE_DATA_DIR=/data LUIGI_CONFIG_PATH=/app/luigi.cfg
VOLUME ["/data"]
CMD ["luigi", "--module", "pipeline", "RunAll", "--workers", "2"]
