"""Pure numpy analytics for limitwatch: rolling averages, forecasts and signals."""
