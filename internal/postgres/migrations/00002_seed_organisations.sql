-- +goose Up
-- Seed of the eligible-employer register: the NHS trusts of the NHS England
-- West Midlands area (Birmingham and Solihull, Black Country, Coventry and
-- Warwickshire, Herefordshire and Worcestershire, Shropshire Telford and Wrekin,
-- Staffordshire and Stoke-on-Trent ICSs, plus the regional ambulance trust).
-- Codes are NHS ODS organisation codes and names are the current ODS names,
-- checked on 2026-11-24 against published ODS-derived trust code lists (not a
-- live ODS API query). Only trusts whose code and current name could be confirmed
-- are listed. Dudley Integrated Health and Care NHS Trust (RYK) is left out on
-- purpose: it was dissolved in 2024 and its services moved to Black Country
-- Healthcare NHS FT, The Dudley Group NHS FT and primary care.
-- No NHS-contracted (independent sector) services are seeded because none had a
-- verifiable ODS code. This is only a starting point: operators maintain the
-- register (add, rename, deactivate) through the API, and ON CONFLICT DO NOTHING
-- keeps this seed from overwriting their changes.
INSERT INTO organisations (code, name, kind) VALUES
  -- Birmingham and Solihull
  ('RRK', 'University Hospitals Birmingham NHS Foundation Trust', 'nhs_trust'),
  ('RQ3', 'Birmingham Women''s and Children''s NHS Foundation Trust', 'nhs_trust'),
  ('RRJ', 'The Royal Orthopaedic Hospital NHS Foundation Trust', 'nhs_trust'),
  ('RYW', 'Birmingham Community Healthcare NHS Foundation Trust', 'nhs_trust'),
  ('RXT', 'Birmingham and Solihull Mental Health NHS Foundation Trust', 'nhs_trust'),
  -- Black Country
  ('RXK', 'Sandwell and West Birmingham Hospitals NHS Trust', 'nhs_trust'),
  ('RNA', 'The Dudley Group NHS Foundation Trust', 'nhs_trust'),
  ('RBK', 'Walsall Healthcare NHS Trust', 'nhs_trust'),
  ('RL4', 'The Royal Wolverhampton NHS Trust', 'nhs_trust'),
  ('TAJ', 'Black Country Healthcare NHS Foundation Trust', 'nhs_trust'),
  -- Coventry and Warwickshire
  ('RKB', 'University Hospitals Coventry and Warwickshire NHS Trust', 'nhs_trust'),
  ('RLT', 'George Eliot Hospital NHS Trust', 'nhs_trust'),
  ('RJC', 'South Warwickshire University NHS Foundation Trust', 'nhs_trust'),
  ('RYG', 'Coventry and Warwickshire Partnership NHS Trust', 'nhs_trust'),
  -- Herefordshire and Worcestershire
  ('RWP', 'Worcestershire Acute Hospitals NHS Trust', 'nhs_trust'),
  ('RLQ', 'Wye Valley NHS Trust', 'nhs_trust'),
  ('R1A', 'Herefordshire and Worcestershire Health and Care NHS Trust', 'nhs_trust'),
  -- Shropshire, Telford and Wrekin
  ('RXW', 'The Shrewsbury and Telford Hospital NHS Trust', 'nhs_trust'),
  ('RL1', 'The Robert Jones and Agnes Hunt Orthopaedic Hospital NHS Foundation Trust', 'nhs_trust'),
  ('R1D', 'Shropshire Community Health NHS Trust', 'nhs_trust'),
  -- Staffordshire and Stoke-on-Trent
  ('RJE', 'University Hospitals of North Midlands NHS Trust', 'nhs_trust'),
  ('RLY', 'North Staffordshire Combined Healthcare NHS Trust', 'nhs_trust'),
  ('RRE', 'Midlands Partnership University NHS Foundation Trust', 'nhs_trust'),
  -- Region-wide
  ('RYA', 'West Midlands Ambulance Service University NHS Foundation Trust', 'nhs_trust')
ON CONFLICT (code) DO NOTHING;

-- +goose Down
DELETE FROM organisations WHERE code IN (
  'RRK', 'RQ3', 'RRJ', 'RYW', 'RXT',
  'RXK', 'RNA', 'RBK', 'RL4', 'TAJ',
  'RKB', 'RLT', 'RJC', 'RYG',
  'RWP', 'RLQ', 'R1A',
  'RXW', 'RL1', 'R1D',
  'RJE', 'RLY', 'RRE',
  'RYA'
);
