from .source import SourceChartmogul

__all__ = ["SourceChartmogul"]
