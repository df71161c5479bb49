"""Problems found in a submission: stable codes, Swedish messages, and what to do.

The codes are a contract with the federations and with operators' scripts: add
new ones, never rename or reuse one. Messages name the sheet, row and column and
never echo a personnummer (register rows are named by row number only): every
value put into a message, and the sheet and column names (they come from the
file too), pass through `redact` first.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass

from .personnummer import redact

ERROR = "fel"
WARNING = "varning"

# code -> (severity, message template, what the submitter should do)
CODES: dict[str, tuple[str, str, str]] = {
    "FILE_UNREADABLE": (ERROR, "Filen går inte att läsa som {expected}: {detail}.",
                        "Spara filen på nytt i rätt format (Excel .xlsx eller CSV med semikolon) och skicka den igen."),
    "FILE_ENCRYPTED": (ERROR, "Arbetsboken är lösenordsskyddad (krypterad) och kan därför inte läsas.",
                       "Spara arbetsboken utan lösenord (i Excel: Arkiv → Information → Skydda arbetsbok → "
                       "Kryptera med lösenord, töm fältet och spara) och skicka den igen. Skicka aldrig lösenordet."),
    "FILE_TOO_LARGE": (ERROR, "Filen är för stor för att läsas: {detail}.",
                       "Kontrollera att filen bara innehåller inmatningsfilens blad och rader (högst {limit}). "
                       "Spara den på nytt från mallen och skicka den igen."),
    "FILE_NOT_REGULAR": (ERROR, "{name} är ingen vanlig fil ({kind}) och lämnas orörd.",
                         "Lägg filen själv i inkorgen, inte en genväg (symbolisk länk) eller en annan "
                         "specialfil."),
    "FILE_MACRO": (ERROR, "Filen är en arbetsbok med makron (.xlsm) som har fått filändelsen .xlsx.",
                   "Spara arbetsboken som vanlig Excel-arbetsbok (.xlsx) utan makron och skicka den igen."),
    "FILE_NAME_UNSAFE": (ERROR, "Filnamnet {name} {reason}.",
                         "Byt namn på filen till mönstret FÖRBUNDSKOD_ÅÅÅÅ-ÅÅ.xlsx (t.ex. SF07_2025-26.xlsx), "
                         "utan radbrytningar eller andra osynliga tecken, och skicka den igen."),
    "CSV_LINE_ENDINGS": (ERROR, "Filen har radslut av olika slag (både CR ensamt och LF), så raderna kan inte "
                                "avgränsas säkert.",
                         "Spara CSV-filen på nytt från Excel (CSV UTF-8, semikolonavgränsad) och skicka den igen."),
    "BINARY_CONTENT": (ERROR, "Filen innehåller ett NUL-tecken (binära data) på rad {row}.",
                       "Spara CSV-filen på nytt som text (CSV UTF-8, semikolonavgränsad); skicka aldrig en "
                       "Excel-fil med filändelsen .csv."),
    "FILE_TYPE": (ERROR, "Filtypen {suffix} tas inte emot.",
                  "Skicka inmatningsfilen som Excel (.xlsx) eller som CSV-filer (.csv)."),
    "FILE_NAME": (ERROR, "Filnamnet {name} följer inte mönstret FÖRBUNDSKOD_ÅÅÅÅ-ÅÅ.xlsx (t.ex. SF07_2025-26.xlsx).",
                  "Byt namn på filen så att det börjar med er förbundskod och mätperioden."),
    "FEDERATION_UNKNOWN": (ERROR, "Förbundskoden {code} finns inte i förbundsregistret.",
                           "Kontrollera förbundskoden i filnamnet och på bladet Metadata."),
    "FEDERATION_INACTIVE": (ERROR, "Förbundet {code} deltar inte i indikatorarbetet under mätperioden {period}.",
                            "Kontrollera mätperioden, eller kontakta den nationella samordnaren "
                            "om förbundet har bytt kod."),
    "FEDERATION_MISMATCH": (ERROR,
                            "Förbundskoden på bladet Metadata ({found}) stämmer inte med filnamnet ({expected}).",
                            "Rätta förbundskoden så att filnamn och Metadata anger samma förbund."),
    "PERIOD_INVALID": (ERROR, "Mätperioden {value} är inte giltig.",
                       "Ange mätperioden som ÅÅÅÅ/ÅÅ, till exempel 2025/26."),
    "PERIOD_UNKNOWN": (ERROR, "Mätperioden {value} finns inte i insamlingskalendern (perioder {first}–{last}).",
                       "Kontrollera mätperioden i filnamnet och på bladet Metadata (t.ex. 2025/26 för "
                       "1 november 2025–31 oktober 2026)."),
    "PERIOD_MISMATCH": (ERROR, "Mätperioden på bladet Metadata ({found}) stämmer inte med filnamnet ({expected}).",
                        "Rätta mätperioden så att filnamn och Metadata anger samma period."),
    "SHEET_MISSING": (ERROR, "Bladet {sheet} saknas.",
                      "Utgå från mallen för mätperioden (den bifogas med återkopplingen) och behåll bladens namn."),
    "SHEET_DUPLICATE": (ERROR, "Bladen {sheets} har samma namn så när som på versaler och mellanslag.",
                        "Ta bort eller byt namn på det extra bladet så att varje blad finns en gång."),
    "SHEET_UNKNOWN": (ERROR, "Bladet {sheet} är okänt.",
                      "Ta bort bladet eller byt tillbaka till bladnamnet i mallen ({expected})."),
    "GROUP_NOT_OPEN": (ERROR, "Enkäten {group_sheet} ingår inte i mätperioden {period}.",
                       "Ta bort bladet, eller kontrollera att rätt mätperiod har angetts."),
    "METADATA_MISSING": (ERROR, "Fältet {field} saknas på bladet Metadata.",
                         "Fyll i {field} i kolumn B på bladet Metadata."),
    "COLUMN_MISSING": (ERROR, "Kolumnen {column} saknas.",
                       "Lägg tillbaka kolumnen med rubriken {column} (se mallen för mätperioden)."),
    "COLUMN_UNKNOWN": (ERROR, "Kolumnen {column} är ingen fråga i enkäten {sheet} för mätperioden {period}.",
                       "Ta bort kolumnen eller rätta rubriken till en frågekod i mallen."),
    "COLUMN_DUPLICATE": (ERROR, "Kolumnen {column} förekommer mer än en gång.",
                         "Ta bort den extra kolumnen så att varje rubrik finns en gång."),
    "NO_DATA": (ERROR, "Filen innehåller inga ifyllda enkäter och inga insamlingsuppgifter.",
                "Fyll i minst ett enkätblad eller bladet Insamling innan filen skickas."),
    "TOO_MANY_ROWS": (ERROR, "Bladet har {rows} rader, fler än de {limit} som ett förbund kan lämna.",
                      "Kontrollera att bladet bara innehåller besvarade enkäter, en rad per enkät."),
    "MERGED_CELLS": (ERROR, "Bladet har sammanfogade celler ({ranges}), så alla rubriker och värden kan inte läsas.",
                     "Dela upp de sammanfogade cellerna (i Excel: Start → Sammanfoga och centrera → Dela upp celler) "
                     "så att varje kolumn har en egen rubrik och varje enkät en egen rad. Bladets övriga innehåll "
                     "kontrolleras när det är rättat."),
    "FORMULA_NO_VALUE": (ERROR, "{count} cell(er) innehåller en formel utan sparat värde, t.ex. {cells}. "
                                "Cellerna kan inte läsas.",
                         "Öppna filen i Excel eller LibreOffice och spara den igen så att formlernas värden sparas, "
                         "eller ersätt formlerna med värden (Kopiera, Klistra in special → Värden)."),
    "CELL_ERROR_VALUE": (ERROR, "{count} cell(er) innehåller ett felvärde från en formel, t.ex. {cells}.",
                         "Rätta formlerna eller skriv in värdena direkt, så att inga celler visar #DIV/0!, "
                         "#REF!, #VÄRDEFEL! eller liknande."),
    "TOO_MANY_PROBLEMS": (ERROR, "Ytterligare {count} fel i enskilda celler listas inte här (de första {listed} "
                                 "visas).",
                          "Rätta de listade felen; de flesta beror ofta på samma sak (en flyttad kolumn, fel "
                          "mall). Kontrollera sedan filen igen."),
    "HIDDEN_ROWS": (WARNING, "{count} rad(er) med innehåll är dolda men har lästs in som vanliga rader: rad {rows}.",
                    "Om de dolda raderna inte ska ingå: ta bort dem och skicka filen igen. "
                    "Annars behöver ni inte göra något."),
    "SERIAL_MISSING": (ERROR, "Löpnummer saknas.",
                       "Ge varje enkät ett löpnummer."),
    "SERIAL_DUPLICATE": (ERROR, "Löpnumret {value} förekommer också på rad {first_row}.",
                         "Ge varje enkät ett eget löpnummer."),
    "DATE_MISSING": (ERROR, "Datum saknas.",
                     "Ange datum då enkäten besvarades (ÅÅÅÅ-MM-DD)."),
    "DATE_INVALID": (ERROR, "Datumet {value} kan inte läsas.",
                     "Skriv datumet som ÅÅÅÅ-MM-DD, till exempel 2026-03-14."),
    "DATE_OUTSIDE_PERIOD": (ERROR, "Datumet {value} ligger utanför mätperioden {period} ({start}–{end}).",
                            "Rätta datumet, eller lämna enkäten i filen för rätt mätperiod."),
    "CODE_INVALID": (ERROR, "Värdet {value} är inte tillåtet. Tillåtna värden: {allowed}.",
                     "Välj ett av de tillåtna värdena i rullistan."),
    "ANSWER_INVALID": (ERROR, "Svaret {value} är inte ett svarsalternativ.",
                       "Ange ett tal 1–6, svarsalternativets text, Vet ej/Ej aktuellt, eller lämna cellen tom."),
    "ANSWER_OUT_OF_RANGE": (ERROR, "Svaret {value} ligger utanför skalan {low}–{high}.",
                            "Ange ett tal mellan {low} och {high}, Vet ej/Ej aktuellt, eller lämna cellen tom."),
    "COUNT_INVALID": (ERROR, "Antalet {value} är inte ett heltal som är 0 eller större.",
                      "Ange antalet som ett heltal."),
    "COUNT_TOO_LARGE": (ERROR, "Antalet {value} är orimligt stort (högst {limit}).",
                        "Kontrollera antalet: ange antal tillfrågade och besvarade enkäter för förbundet."),
    "GROUP_DUPLICATE": (ERROR, "Enkäten {group_sheet} förekommer också på rad {first_row}.",
                        "Ange varje enkät en gång på bladet Insamling."),
    "COUNT_INCONSISTENT": (ERROR, "Antal besvarade ({answered}) är större än antal tillfrågade ({asked}).",
                           "Kontrollera antalen för enkäten på bladet Insamling."),
    "COLLECTION_MISSING": (WARNING, "Antal tillfrågade och besvarade saknas för enkäten {group_sheet}.",
                           "Fyll i bladet Insamling så att svarsfrekvensen kan beräknas."),
    "COLLECTION_ROWS_DIFFER": (WARNING, "Bladet Insamling anger {answered} besvarade enkäter "
                                        "men bladet {group_sheet} har {rows} rader.",
                               "Kontrollera att alla besvarade enkäter finns med, eller rätta antalet."),
    # Register extracts (SUS, income). Rows are named by number, never by value.
    "REGISTER_NAME": (ERROR, "Filnamnet {name} följer inte mönstret för ett registeruttag.",
                      "Döp filen till sus_deltagare_ÅÅÅÅ-MM.csv/.parquet "
                      "eller inkomster_ÅÅÅÅ-MM_ÅÅÅÅ-MM.csv/.parquet."),
    "REGISTER_PERIOD": (ERROR, "Filnamnet {name} anger {detail}.",
                        "Rätta månaderna i filnamnet: riktiga månader ÅÅÅÅ-MM (01–12), första månaden före eller "
                        "lika med den sista, och ingen månad efter innevarande månad."),
    "VALUE_RESERVED": (ERROR, "{rows} rad(er) har värdet {value} i kolumnen {column}, som är reserverat för "
                              "summeringsrader i rapporterna, t.ex. rad {examples}.",
                       "Använd insatsens egen kod i kolumnen {column}."),
    "REGISTER_COLUMNS": (ERROR, "Kolumnerna {columns} saknas.",
                         "Leverera uttaget med kolumnerna {expected}."),
    "PNR_INVALID": (ERROR, "{rows} rad(er) har ett ogiltigt personnummer eller samordningsnummer "
                           "(fel format, datum eller kontrollsiffra), t.ex. rad {examples}.",
                    "Rätta personnumren på de angivna raderna i uttaget och leverera det igen."),
    "PNR_MISSING": (ERROR, "{rows} rad(er) saknar personnummer men är inte markerade som anonyma, "
                           "t.ex. rad {examples}.",
                    "Ange personnummer, eller markera raden som anonym (anonym = 1)."),
    "VALUE_INVALID": (ERROR, "{rows} rad(er) har ett ogiltigt värde i kolumnen {column}, "
                             "t.ex. rad {examples}. Tillåtet: {allowed}.",
                      "Rätta värdena i kolumnen {column}."),
    "PNR_BIRTH_YEAR": (ERROR, "{rows} rad(er) har ett tiosiffrigt personnummer med + (100 år eller äldre) som "
                              "inte stämmer med födelseåret i kolumnen fodelsear, t.ex. rad {examples}.",
                       "Skriv personnumret med - eller med 12 siffror, eller rätta fodelsear, och leverera "
                       "uttaget igen."),
    # (DUPLICATE_ROWS, the error that rejected such an extract, is retired and never reused.)
    "DUPLICATE_ROWS_REMOVED": (WARNING, "{rows} rad(er) är exakta dubbletter av en tidigare rad (samma person och "
                                        "samma värde i varje kolumn) och har inte lästs in, t.ex. rad {examples}.",
                               "Uttaget är inläst utan dubbletterna; ni behöver inte leverera det igen. Rätta "
                               "uttaget så att varje deltagare och insats bara har en rad i nästa leverans."),
    "END_BEFORE_START": (ERROR, "{rows} rad(er) har ett slutdatum före startdatum, t.ex. rad {examples}.",
                         "Rätta start- eller slutdatum på de angivna raderna."),
    "MONTH_OUTSIDE_COVERAGE": (ERROR, "{rows} rad(er) gäller månader utanför uttagets angivna period "
                                      "{first}–{last}, t.ex. rad {examples}.",
                               "Leverera bara månader inom perioden i filnamnet, eller rätta filnamnet."),
    "REGISTER_EMPTY": (ERROR, "Uttaget innehåller inga rader.",
                       "Kontrollera att rätt fil har levererats."),
    # Personnummer where none belongs (surveys and register extracts). The value is never shown.
    "PERSONAL_NUMBER_IN_TEXT": (ERROR, "{place} innehåller ett personnummer eller samordningsnummer. "
                                       "Värdet visas inte här.",
                                "Ta bort personnumret och skicka filen igen. Personnummer får bara finnas "
                                "i kolumnen personnummer i ett registeruttag, aldrig i enkäter."),
    "PERSONAL_NUMBER_IN_NAME": (ERROR, "Filnamnet innehåller ett personnummer eller samordningsnummer. "
                                       "Filen tas inte emot och lämnas orörd; namnet visas bara med numret "
                                       "borttaget: {name}.",
                                "Byt namn på filen så att det inte innehåller något personnummer och skicka "
                                "den igen."),
}


# Problems about the file's name alone: bytes rejected only for these have not been judged,
# so the same bytes under a corrected name are processed (LedgerRecord.rejected_for_name).
NAME_CODES = frozenset({"FILE_NAME", "FILE_TYPE", "FILE_NAME_UNSAFE", "PERIOD_INVALID", "PERIOD_UNKNOWN",
                        "FEDERATION_UNKNOWN", "FEDERATION_INACTIVE", "REGISTER_NAME", "REGISTER_PERIOD",
                        "PERSONAL_NUMBER_IN_NAME"})


@dataclass(frozen=True)
class Problem:
    code: str
    severity: str
    message: str
    action: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def where(self) -> str:
        """'blad Deltagare, rad 12, kolumn D03' for messages and feedback."""
        parts = []
        if self.sheet:
            parts.append(f"blad {self.sheet}")
        if self.row is not None:
            parts.append(f"rad {self.row}")
        if self.column:
            parts.append(f"kolumn {self.column}")
        return ", ".join(parts)


def name_problem(name: str, stored: str) -> Problem | None:
    """FILE_NAME_UNSAFE for a name with control characters (a newline) or longer than 120 characters."""
    if any(unicodedata.category(ch)[0] == "C" for ch in name):
        reason = "innehåller en radbrytning eller ett annat osynligt styrtecken"
        return problem("FILE_NAME_UNSAFE", name=stored, reason=reason)
    if len(name) > 120:
        return problem("FILE_NAME_UNSAFE", name=stored, reason=f"är {len(name)} tecken långt (högst 120)")
    return None


def problem(problem_code: str, /, *, sheet: str | None = None, row: int | None = None,
            column: str | None = None, **details) -> Problem:
    severity, message, action = CODES[problem_code]
    # Values come from the submitted file: none may quote a personnummer.
    sheet = redact(sheet) if sheet is not None else None
    column = redact(column) if column is not None else None
    details = {key: redact(value) for key, value in details.items()}
    return Problem(
        code=problem_code,
        severity=severity,
        message=message.format(sheet=sheet, row=row, column=column, **details),
        action=action.format(sheet=sheet, row=row, column=column, **details),
        sheet=sheet,
        row=row,
        column=column,
    )


def is_blocking(problems: list[Problem]) -> bool:
    return any(p.severity == ERROR for p in problems)


def only_the_name(problems: list[Problem]) -> bool:
    """Rejected for the file's name alone (codes in NAME_CODES, not tied to a sheet)."""
    errors = [p for p in problems if p.severity == ERROR]
    return bool(errors) and all(p.code in NAME_CODES and p.sheet is None for p in errors)
