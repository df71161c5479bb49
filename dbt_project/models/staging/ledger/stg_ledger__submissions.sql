with source as (
    select * from {{ source('ledger', 'submissions') }}
),

renamed as (
    select
        submission_id,
        source as submission_source,
        file_name,
        cast(received_at as timestamptz) as received_at,
        cast(ingested_at as timestamptz) as ingested_at,
        federation_code,
        period,
        format as file_format,
        respondent_groups,
        collection_groups,
        status,
        rows_ok,
        rows_total,
        errors,
        warnings,
        first_problem,
        archive_path,
        raw_path,
        quarantine_path,
        extract_month,
        first_month
    from source
)

select * from renamed
