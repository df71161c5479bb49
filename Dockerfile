# The Airflow image with this project installed: DAGs, dbt project and packages.
FROM apache/airflow:3.3.2-python3.11

USER root
COPY --chown=airflow:0 . /opt/nns
USER airflow
WORKDIR /opt/nns

# Install exactly what uv.lock pins (without the dev group), keeping the image's Airflow.
RUN pip install --no-cache-dir uv==0.13.8 \
 && uv export --frozen --no-dev --no-emit-project --no-hashes -o /tmp/requirements.txt \
 && pip install --no-cache-dir "apache-airflow==3.3.2" -r /tmp/requirements.txt \
 && pip install --no-cache-dir --no-deps -e /opt/nns

ENV AIRFLOW__CORE__DAGS_FOLDER=/opt/nns/dags \
    NNS_HOME=/data/nns \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    GX_ANALYTICS_ENABLED=False \
    DO_NOT_TRACK=1 \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False
