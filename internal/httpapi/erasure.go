package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

type eraseResponse struct {
	ID     string `json:"id"`
	Erased bool   `json:"erased"`
}

// eraseReferral erases a finished referral's personal details at the
// trainee's request, and answers whether anything was erased: false when it
// already had been. The body is optional: none, or {} as application/json.
func (s *Server) eraseReferral(w http.ResponseWriter, r *http.Request) {
	if _, err := noBody(w, r)(); err != nil {
		writeError(w, err)
		return
	}
	id := chi.URLParam(r, "id")
	erased, err := s.App.Erase(r.Context(), principal(r), id)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, eraseResponse{ID: id, Erased: erased})
}
