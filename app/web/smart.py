"""placeholder"""

from fastapi import APIRouter

router = APIRouter(prefix="/smart", include_in_schema=False)
