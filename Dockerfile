# The Airflow image with this project installed: DAGs, dbt project, packages.
# Official apache/airflow 3.3.2, in its Python 3.11 variant (uv.lock is resolved for 3.11).
FROM apache/airflow:3.3.2-python3.11

USER root
# DejaVu Sans, the reports' font (report/pdf.py reads it from /usr/share/fonts/truetype/dejavu).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
COPY --chown=airflow:0 . /opt/nns
USER airflow
WORKDIR /opt/nns

# Exactly what uv.lock pins (without the dev group), with the image's Airflow version held,
# as the official "extend the image" recipe does; then the project itself, editable, so the
# DAGs, the dbt project and the catalogue are read from /opt/nns.
RUN pip install --no-cache-dir uv==0.13.8 \
 && uv export --frozen --no-dev --no-emit-project --no-hashes -o /tmp/requirements.txt \
 && pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /tmp/requirements.txt \
 && pip install --no-cache-dir --no-deps -e /opt/nns \
 && rm /tmp/requirements.txt

ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/nns/dags \
    NNS_HOME=/data/nns \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    GX_ANALYTICS_ENABLED=False \
    DO_NOT_TRACK=1 \
    OPENBLAS_NUM_THREADS=1
